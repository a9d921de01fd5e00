"""Queue, routing and SLA clocks, with a clock the test controls."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.services import build_services, running
from bot.settings import Settings
from channels.base import InboundMessage
from escalation.queue import AgentUnavailable
from escalation.sla import BusinessHours, BusinessHoursError
from models import Agent, Conversation, Customer
from tests.conftest import RecordingChannel

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_business_hours_add_skips_nights_and_weekends() -> None:
    hours = BusinessHours.parse("Mon-Fri 09:00-18:00", "UTC")
    friday_17 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert hours.add(friday_17, timedelta(hours=2)) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert hours.next_opening(saturday) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert hours.open_time_between(
        friday_17, datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    ) == timedelta(hours=2)
    shanghai = BusinessHours.parse("Mon-Fri 09:00-18:00", "Asia/Shanghai")
    assert shanghai.is_open(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    assert BusinessHours.parse("24/7", "UTC").is_open(saturday)


@pytest.mark.parametrize(
    ("spec", "zone"),
    [("weekdays", "UTC"), ("Mon-Fri 18:00-09:00", "UTC"), ("Mon-Fri 09:00-18:00", "Mars/Base")],
)
def test_bad_business_hours_are_clear(spec: str, zone: str) -> None:
    with pytest.raises(BusinessHoursError):
        BusinessHours.parse(spec, zone)


async def escalate(services, user: str, text: str = "I want to talk to a human"):  # type: ignore[no-untyped-def]
    return await services.engine.receive(InboundMessage("test", user, user, uuid.uuid4().hex, text))


async def add_agent(
    services, email: str, teams: list[str], status: str = "online", limit: int = 3
) -> int:  # type: ignore[no-untyped-def]
    async with services.sessions() as session:
        agent = Agent(email=email, name=email, teams=teams, status=status, max_concurrent=limit)
        session.add(agent)
        await session.commit()
        return agent.id


async def test_waiting_raises_priority_and_overdue_conversations_jump_the_queue(
    settings: Settings,
) -> None:
    clock = FakeClock(MONDAY_10)
    async with running(build_services(settings, {"test": RecordingChannel()}, clock)) as services:
        first = await escalate(services, "early")
        clock.now += timedelta(minutes=3)
        second = await escalate(services, "late")
        entries = await services.queue.entries()
        assert [e.conversation_id for e in entries] == [
            first.conversation_id,
            second.conversation_id,
        ]
        assert entries[0].effective_priority > entries[1].effective_priority

        assert await services.queue.reprioritise_overdue() == []
        clock.now += timedelta(minutes=3)  # the first one is past its 5-minute target now
        assert await services.queue.reprioritise_overdue() == [first.conversation_id]
        assert await services.queue.reprioritise_overdue() == []  # once only
        async with services.sessions() as session:
            breached = await session.get_one(Conversation, first.conversation_id)
        assert breached.sla_breached and breached.priority == 50 + 30


async def test_handoff_tells_position_and_wait_in_hours_and_when_closed(settings: Settings) -> None:
    clock = FakeClock(MONDAY_10)
    async with running(build_services(settings, {"test": RecordingChannel()}, clock)) as services:
        await add_agent(services, "ann@example.com", ["support"])
        await escalate(services, "a")
        second = await escalate(services, "b")
        assert "number 2 in the queue" in second.replies[1].text
        clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # Saturday
        weekend = await escalate(services, "c", "转人工")
        assert "Mon 09:00" in weekend.replies[1].text and "客服" in weekend.replies[1].text
        async with services.sessions() as session:
            conversation = await session.get_one(Conversation, weekend.conversation_id)
        assert conversation.first_response_due_at == datetime(2026, 11, 30, 9, 5, tzinfo=UTC)


async def test_the_wait_estimate_counts_who_waiting_has_lifted_ahead(settings: Settings) -> None:
    """The estimate reads no whole queue: it counts higher priorities in the database and
    works out only for those close below whether their wait has lifted them ahead."""
    clock = FakeClock(MONDAY_10)
    async with running(build_services(settings, {"test": RecordingChannel()}, clock)) as services:
        waiting = services.queue.settings.max_wait_points  # one point a minute, up to this
        queued = {"vip": 60, "lifted": 30, "fresh": 30, "long_low": 5, "other_team": 60}
        async with services.sessions() as session:
            customer = Customer(display_name="c")
            session.add(customer)
            await session.flush()
            for name, priority in queued.items():
                escalated = MONDAY_10 - timedelta(minutes=0 if name == "fresh" else 600)
                session.add(
                    Conversation(
                        customer_id=customer.id,
                        channel="test",
                        external_thread=name,
                        state="queued",
                        priority=priority,
                        team="billing" if name == "other_team" else "support",
                        escalated_at=escalated,
                    )
                )
            await session.commit()
        # vip (60) and lifted (30 + 40 after ten open hours) are ahead of a 50; fresh (30)
        # and long_low (5 + 40) are not; billing's queue is another queue.
        assert waiting == 40
        estimate = await services.queue.estimate("support", 50)
        assert estimate.position == 3
        assert (await services.queue.estimate(None, 50)).position == 4


async def test_routing_by_team_and_capacity(settings: Settings) -> None:
    clock = FakeClock(MONDAY_10)
    async with running(build_services(settings, {"test": RecordingChannel()}, clock)) as services:
        await escalate(services, "b1", "I want a refund, I was charged twice!!!")
        billing = await escalate(services, "b1", "talk to a human")
        support = await escalate(services, "s1", "I want to talk to a human")
        async with services.sessions() as session:
            assert (await session.get_one(Conversation, billing.conversation_id)).team == "billing"
        support_agent = await add_agent(services, "sue@example.com", ["support"], limit=1)
        assert await services.queue.next_for(support_agent) == support.conversation_id
        await services.engine.claim(support.conversation_id, support_agent)
        with pytest.raises(AgentUnavailable, match="limit 1"):
            await services.engine.claim(billing.conversation_id, support_agent)
        with pytest.raises(AgentUnavailable):
            await services.queue.next_for(support_agent)
        billing_agent = await add_agent(services, "bill@example.com", ["billing"])
        assert await services.queue.next_for(billing_agent) == billing.conversation_id
