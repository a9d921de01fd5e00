"""The human queue: priority that grows with waiting, routing by team, capacity, SLA clocks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from escalation.presence import DEFAULT_IDLE_S, Presence, available_now
from escalation.sla import BusinessHours, Clock, SlaTargets, system_clock
from models import Agent, Conversation, ConversationState

S = ConversationState


@dataclass(frozen=True, slots=True)
class QueueSettings:
    hours: BusinessHours
    sla: SlaTargets
    wait_points_per_minute: float = 1.0
    max_wait_points: float = 40.0
    breach_bonus: int = 30
    average_handle_s: float = 240.0
    agent_idle_s: float = DEFAULT_IDLE_S


@dataclass(frozen=True, slots=True)
class QueueEntry:
    conversation_id: int
    channel: str
    team: str | None
    priority: int
    effective_priority: float
    waiting_s: float
    reason: str | None
    first_response_due_at: datetime | None
    breached: bool


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    position: int
    expected_wait_s: float
    open_now: bool
    opens_at: datetime
    agents_available: int = 0
    """Agents of the team online now (their console open and in use)."""


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether a customer who asks for a person now gets one soon: what the widget says."""

    people: Presence
    """ONLINE: someone is at a console; AWAY: open hours, nobody there; OFFLINE: closed."""
    opens_at: datetime | None = None
    """When closed: when the team is back."""


AVAILABILITY_TTL_S = 10.0
"""Every open widget asks; one process reads the agents at most this often."""


class AgentUnavailable(Exception):
    status = 409


class Queue:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: QueueSettings,
        clock: Clock = system_clock,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self.clock = clock
        self._availability: tuple[datetime, Availability] | None = None

    def due_dates(self, escalated_at: datetime) -> tuple[datetime, datetime]:
        hours, sla = self.settings.hours, self.settings.sla
        return hours.add(escalated_at, sla.first_response), hours.add(escalated_at, sla.resolution)

    def effective_priority(
        self, priority: int, escalated_at: datetime | None, now: datetime
    ) -> float:
        """Waiting raises priority (in business time), so nobody waits forever behind VIPs."""
        if escalated_at is None:
            return float(priority)
        waited = self.settings.hours.open_time_between(escalated_at, now).total_seconds() / 60
        bonus = min(waited * self.settings.wait_points_per_minute, self.settings.max_wait_points)
        return round(priority + bonus, 2)

    async def entries(
        self, team: str | None = None, teams: Sequence[str] | None = None
    ) -> list[QueueEntry]:
        """Waiting conversations, most urgent first; `teams` limits them to an agent's teams."""
        now = self.clock()
        statement = select(Conversation).where(Conversation.state == S.QUEUED.value)
        if team is not None:
            statement = statement.where(Conversation.team == team)
        if teams is not None:
            statement = statement.where(Conversation.team.in_(list(teams)))
        async with self._sessions() as session:
            rows = (await session.scalars(statement)).all()
        entries = [
            QueueEntry(
                conversation_id=c.id,
                channel=c.channel,
                team=c.team,
                priority=c.priority,
                effective_priority=self.effective_priority(c.priority, c.escalated_at, now),
                waiting_s=(now - c.escalated_at).total_seconds() if c.escalated_at else 0.0,
                reason=c.escalation_reason,
                first_response_due_at=c.first_response_due_at,
                breached=c.sla_breached,
            )
            for c in rows
        ]
        return sorted(
            entries, key=lambda e: (-e.effective_priority, -e.waiting_s, e.conversation_id)
        )

    async def estimate(
        self, team: str | None, priority: int, waiting: int | None = None
    ) -> WaitEstimate:
        """Where a conversation escalated now with `priority` would stand, and for how long;
        `waiting`: one already in the queue, standing by its own grown priority and wait.
        Runs on every escalation, so it reads no whole queue: whoever has a higher priority is
        ahead whatever their wait (counted by the index), and only those within the most
        waiting can add are read to see whether their wait lifts them ahead."""
        now = self.clock()
        queued = [Conversation.state == S.QUEUED.value]
        if team is not None:
            queued.append(Conversation.team == team)
        level, since = float(priority), now
        async with self._sessions() as session:
            if waiting is not None:
                own = (
                    await session.execute(
                        select(Conversation.priority, Conversation.escalated_at).where(
                            Conversation.id == waiting
                        )
                    )
                ).first()
                if own is not None:
                    level = self.effective_priority(own.priority, own.escalated_at, now)
                    since = own.escalated_at or now
                queued.append(Conversation.id != waiting)
            surely_ahead = await session.scalar(
                select(func.count()).where(*queued, Conversation.priority > level)
            )
            maybe_ahead = (
                await session.execute(
                    select(Conversation.priority, Conversation.escalated_at).where(
                        *queued,
                        Conversation.priority <= level,
                        Conversation.priority >= level - self.settings.max_wait_points,
                    )
                )
            ).all()
            agents = await _available_agents(session, team, now, self.settings.agent_idle_s)
        lifted = 0
        for row in maybe_ahead:  # the order entries() sorts by: grown priority, then wait
            grown = self.effective_priority(row.priority, row.escalated_at, now)
            lifted += grown > level or (grown == level and (row.escalated_at or now) <= since)
        position = int(surely_ahead or 0) + lifted + 1
        open_now = self.settings.hours.is_open(now)
        wait = math.ceil(position / max(agents, 1)) * self.settings.average_handle_s
        opens_at = now if open_now else self.settings.hours.next_opening(now)
        if not open_now:
            wait += (opens_at - now).total_seconds()
        return WaitEstimate(position, wait, open_now, opens_at, agents)

    async def availability(self) -> Availability:
        now = self.clock()
        if self._availability is not None:
            read_at, known = self._availability
            if timedelta(0) <= now - read_at < timedelta(seconds=AVAILABILITY_TTL_S):
                return known
        hours = self.settings.hours
        if not hours.is_open(now):
            known = Availability(Presence.OFFLINE, hours.next_opening(now))
        else:
            async with self._sessions() as session:
                agents = await _available_agents(session, None, now, self.settings.agent_idle_s)
            known = Availability(Presence.ONLINE if agents else Presence.AWAY)
        self._availability = (now, known)
        return known

    def forget_availability(self) -> None:
        """An agent's page beat or closed here: the next widget to ask reads it afresh."""
        self._availability = None

    async def reprioritise_overdue(self) -> list[int]:
        """Queued conversations past their first-response target jump the queue, once."""
        now = self.clock()
        async with self._sessions() as session:
            overdue = (
                await session.scalars(
                    update(Conversation)
                    .where(
                        Conversation.state == S.QUEUED.value,
                        Conversation.first_response_due_at < now,
                        Conversation.sla_breached.is_(False),
                    )
                    .values(
                        sla_breached=True,
                        priority=Conversation.priority + self.settings.breach_bonus,
                    )
                    .returning(Conversation.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            await session.commit()
        return list(overdue)

    async def next_for(self, agent_id: int) -> int | None:
        """The conversation this agent should take next: their teams, highest priority first."""
        async with self._sessions() as session:
            agent = await session.get(Agent, agent_id)
            if agent is None or not agent.active:
                raise AgentUnavailable(f"no active agent {agent_id}")
            await check_capacity(session, agent)
        for entry in await self.entries():
            if entry.team is None or entry.team in agent.teams:
                return entry.conversation_id
        return None


async def _available_agents(
    session: AsyncSession, team: str | None, now: datetime, idle_s: float
) -> int:
    teams = (await session.scalars(select(Agent.teams).where(available_now(now, idle_s)))).all()
    return sum(1 for t in teams if team is None or team in (t or []))


async def check_capacity(session: AsyncSession, agent: Agent) -> None:
    owned = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.assigned_agent_id == agent.id, Conversation.state == S.AGENT.value)
    )
    if (owned or 0) >= agent.max_concurrent:
        raise AgentUnavailable(
            f"{agent.name} already has {owned} conversations (limit {agent.max_concurrent})"
        )
