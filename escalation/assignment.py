"""Automatic assignment: a waiting chat goes to an online agent of its team with room for it,
least loaded or in turn (a team setting; manual, the default, leaves agents to pick). An agent
who is gone (no open console, no Slack activity) has their chats of such teams put back in
the queue, and assigned again."""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from escalation.overrides import read_overrides, write_overrides
from escalation.presence import SEEN_FOR_S, Presence, available_now, presence_of
from escalation.queue import Queue
from models import Agent, Conversation, ConversationState

log = logging.getLogger(__name__)
KEY = "assignment"
REQUEUE_GRACE_S = float(SEEN_FOR_S)
"""How long an agent must look gone before their chats move: closing one of several tabs
says "gone" while a console stays open in a hidden tab, which beats only once a minute."""
S = ConversationState


class Mode(enum.StrEnum):
    MANUAL = "manual"
    LEAST_LOADED = "least_loaded"
    ROUND_ROBIN = "round_robin"


class AssignmentView(BaseModel):
    default: Mode = Field(description="For teams not listed, and chats with no team.")
    teams: dict[str, Mode] = Field(description="Per team: manual, least_loaded or round_robin.")


class AssignmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: Mode | None = None
    teams: dict[str, Mode] | None = Field(default=None, max_length=50)


DEFAULTS = AssignmentView(default=Mode.MANUAL, teams={})


@dataclass(frozen=True, slots=True)
class Assigned:
    conversation_id: int
    agent_id: int
    agent_name: str
    mode: Mode


Claim = Callable[[int, int, str], Awaitable[None]]
"""engine.claim with a reason: raises when someone else got there first or the agent is full."""
Requeue = Callable[[int, int, str], Awaitable[None]]


class Assigner:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], queue: Queue, idle_s: float
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._idle_s = idle_s
        self.current = DEFAULTS
        self.requeue_grace_s = REQUEUE_GRACE_S
        self._gone_since: dict[int, datetime] = {}
        """Agents seen gone, and since when (chats move after REQUEUE_GRACE_S)."""

    async def load(self) -> AssignmentView:
        stored = await read_overrides(self._sessions, KEY)
        known = {k: v for k, v in stored.items() if k in AssignmentView.model_fields}
        self.current = AssignmentView.model_validate({**DEFAULTS.model_dump(), **known})
        return self.current

    async def update(self, change: AssignmentUpdate, actor: str) -> AssignmentView:
        values = change.model_dump(exclude_none=True, mode="json")
        merged = await write_overrides(self._sessions, KEY, values, actor, lambda _: None)
        self.current = AssignmentView.model_validate({**DEFAULTS.model_dump(), **merged})
        return self.current

    def mode_for(self, team: str | None) -> Mode:
        return self.current.teams.get(team or "", self.current.default)

    @property
    def enabled(self) -> bool:
        return self.current.default != Mode.MANUAL or any(
            m != Mode.MANUAL for m in self.current.teams.values()
        )

    async def assign_waiting(self, claim: Claim) -> list[Assigned]:
        if not self.enabled:
            return []
        done: list[Assigned] = []
        for entry in await self._queue.entries():
            mode = self.mode_for(entry.team)
            if mode is Mode.MANUAL:
                continue
            agent = await self._pick(entry.team, mode)
            if agent is None:
                continue
            try:
                await claim(entry.conversation_id, agent.id, f"assigned to {agent.name} ({mode})")
            except Exception as exc:  # taken meanwhile, or the agent filled up: the next one
                log.info("assignment skipped", extra={"why": str(exc)[:200]})
                continue
            await self._stamp(agent.id)
            done.append(Assigned(entry.conversation_id, agent.id, agent.name, mode))
        return done

    async def requeue_from_gone(self, requeue: Requeue) -> list[int]:
        """Chats of auto-assigned teams whose agent has gone go back to the queue."""
        if not self.enabled:
            return []
        now = self._queue.clock()
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Conversation.id, Conversation.team, Agent)
                    .join(Agent, Agent.id == Conversation.assigned_agent_id)
                    .where(
                        Conversation.state == S.AGENT.value,
                        # a cheap first cut in SQL (no page beating); presence_of decides
                        or_(
                            Agent.last_seen_at.is_(None),
                            Agent.last_seen_at < now - timedelta(seconds=SEEN_FOR_S),
                        ),
                    )
                )
            ).all()
        moved = []
        gone = {a.id for _, _, a in rows if presence_of(a, now, self._idle_s) is Presence.OFFLINE}
        self._gone_since = {a: self._gone_since.get(a, now) for a in gone}
        for conversation_id, team, agent in rows:
            if self.mode_for(team) is Mode.MANUAL or agent.id not in gone:
                continue
            if now - self._gone_since[agent.id] < timedelta(seconds=self.requeue_grace_s):
                continue
            try:
                await requeue(conversation_id, agent.id, f"{agent.name} went offline")
            except Exception as exc:
                log.info("requeue skipped", extra={"why": str(exc)[:200]})
                continue
            moved.append(conversation_id)
        return moved

    async def _pick(self, team: str | None, mode: Mode) -> Agent | None:
        now = self._queue.clock()
        async with self._sessions() as session:
            agents = (
                await session.scalars(select(Agent).where(available_now(now, self._idle_s)))
            ).all()
            loads = dict(
                (
                    await session.execute(
                        select(Conversation.assigned_agent_id, func.count())
                        .where(Conversation.state == S.AGENT.value)
                        .group_by(Conversation.assigned_agent_id)
                    )
                ).all()
            )
        free = [
            a
            for a in agents
            if (team is None or team in (a.teams or [])) and loads.get(a.id, 0) < a.max_concurrent
        ]
        if not free:
            return None
        oldest = datetime.min.replace(tzinfo=now.tzinfo)
        if mode is Mode.LEAST_LOADED:
            return min(free, key=lambda a: (loads.get(a.id, 0), a.last_assigned_at or oldest, a.id))
        return min(free, key=lambda a: (a.last_assigned_at or oldest, a.id))

    async def _stamp(self, agent_id: int) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(Agent)
                .where(Agent.id == agent_id)
                .values(last_assigned_at=self._queue.clock())
            )
            await session.commit()
