"""The daily rollup behind long reports: the same figures with and without it, on a seeded
database, through erasure and with two processes rolling up at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.seed import Size, seed_url
from bot import database
from bot.nlu.result import FALLBACK_INTENT
from bot.privacy import REDACTED, erase_customer
from bot.report_rollup import roll_up, roll_up_conversations
from bot.reports import Report, build_report
from bot.settings import Settings
from models import (
    Conversation,
    Customer,
    DailyConversationTally,
    DailyMessageCount,
    Message,
    RolledUpConversationDay,
    RolledUpDay,
    StaleConversationDay,
)

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
GRACE = timedelta(hours=2)
SIZE = Size(customers=150, conversations=600, messages=5_000)

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[Sessions]:
    engine = database.make_engine(settings.sqlalchemy_url)
    await database.upgrade(engine)
    await seed_url(settings.database_url, SIZE, NOW)
    yield database.make_sessionmaker(engine)
    await engine.dispose()


async def live_report(sessions: Sessions, days: int) -> Report:
    """The report counted from messages and conversations alone, the rollups set aside."""
    async with sessions() as session:
        saved = (await session.scalars(select(RolledUpDay.day))).all()
        tallied = (await session.scalars(select(RolledUpConversationDay.day))).all()
        await session.execute(delete(RolledUpDay))
        await session.execute(delete(RolledUpConversationDay))
        await session.commit()
    try:
        return await build_report(sessions, days, NOW)
    finally:
        async with sessions() as session:
            session.add_all(RolledUpDay(day=d) for d in saved)
            session.add_all(RolledUpConversationDay(day=d) for d in tallied)
            await session.commit()


async def roll_up_all(sessions: Sessions, now: datetime = NOW) -> tuple[int, int]:
    return await roll_up(sessions, now, GRACE), await roll_up_conversations(sessions, now)


async def rows(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def fallback_texts(sessions: Sessions) -> tuple[set[str], set[str]]:
    """The texts the fallback rollup holds, and those the messages still hold."""
    async with sessions() as session:
        kept = set(
            await session.scalars(
                select(DailyMessageCount.key).where(DailyMessageCount.kind == "fallback")
            )
        )
        remaining = set(
            await session.scalars(
                select(func.lower(Message.text)).where(
                    Message.intent == FALLBACK_INTENT, Message.direction == "in"
                )
            )
        )
    return kept, remaining


async def test_reports_read_the_same_figures_from_the_rollup(sessions: Sessions) -> None:
    before = {days: await build_report(sessions, days, NOW) for days in (1, 7, 30, 365)}
    assert before[365].top_fallbacks and before[365].top_intents
    added, tallied = await roll_up_all(sessions)
    assert 300 <= added <= 366  # every finished day since the first message, today excluded
    assert added - 7 <= tallied <= added - 6  # conversations wait a week to settle
    assert await rows(sessions, DailyMessageCount) > added
    assert await rows(sessions, DailyConversationTally) >= tallied
    for days, report in before.items():
        assert await build_report(sessions, days, NOW) == report
    assert await roll_up_all(sessions) == (0, 0)  # nothing new: done once
    assert await roll_up_all(sessions, NOW + timedelta(days=1)) == (1, 1)


async def test_a_day_is_rolled_up_only_once_its_late_answers_are_in(sessions: Sessions) -> None:
    just_after_midnight = NOW.replace(hour=1)
    await roll_up(sessions, just_after_midnight, GRACE)
    async with sessions() as session:
        newest = await session.scalar(select(func.max(RolledUpDay.day)))
    assert newest == (NOW.date() - timedelta(days=2)).isoformat()  # yesterday is not final yet


async def test_erasure_takes_the_customers_texts_out_of_the_rollup_too(sessions: Sessions) -> None:
    await roll_up(sessions, NOW, GRACE)
    async with sessions() as session:
        said = await session.execute(
            select(Conversation.customer_id, func.lower(Message.text))
            .join(Conversation, Message.conversation_id == Conversation.id)
            .where(Message.intent == FALLBACK_INTENT, Message.direction == "in")
            .where(Message.created_at < NOW - timedelta(days=2))
            .order_by(Message.id)
            .limit(1)
        )
        customer_id, text = said.one()
        erased_texts = (
            await session.scalars(
                select(func.lower(Message.text))
                .join(Conversation, Message.conversation_id == Conversation.id)
                .where(Conversation.customer_id == customer_id)
                .where(Message.intent == FALLBACK_INTENT, Message.direction == "in")
            )
        ).all()
    await erase_customer(sessions, customer_id, "admin@acme.test")
    report = await build_report(sessions, 365, NOW)
    assert report == await live_report(sessions, 365)
    kept, remaining = await fallback_texts(sessions)
    assert kept <= remaining | {REDACTED}  # no text in the rollup that the messages lost
    assert REDACTED in kept
    one_offs = {t for t in erased_texts if t not in remaining}
    assert not one_offs & kept and text in erased_texts


async def test_two_processes_rolling_up_at_once_count_each_day_once(
    sessions: Sessions, settings: Settings
) -> None:
    other_engine = database.make_engine(settings.sqlalchemy_url)
    other = database.make_sessionmaker(other_engine)
    try:
        expected = await live_report(sessions, 365)
        added = await asyncio.gather(roll_up(sessions, NOW, GRACE), roll_up(other, NOW, GRACE))
        tallied = await asyncio.gather(
            roll_up_conversations(sessions, NOW), roll_up_conversations(other, NOW)
        )
    finally:
        await other_engine.dispose()
    assert 300 <= sum(added) <= 366
    async with sessions() as session:
        days = await session.scalar(select(func.count()).select_from(RolledUpDay))
    assert days == sum(added)
    # a second roller either collides or tallies the same days again, replacing them whole
    assert await rows(sessions, RolledUpConversationDay) == max(tallied) > 300
    assert await build_report(sessions, 365, NOW) == expected


async def old_conversation(session: AsyncSession, escalated: bool) -> Conversation:
    c = Conversation
    found = await session.scalars(
        select(c)
        .where(c.created_at < NOW - timedelta(days=60), c.escalated_at.is_not(None) == escalated)
        .order_by(c.id)
        .limit(1)
    )
    return found.one()


async def test_a_late_change_to_an_old_conversation_is_counted_at_once(
    sessions: Sessions,
) -> None:
    """Rated two months later, or escalated again: the trigger marks the day stale, reports
    count it live until the roller tallies it again."""
    await roll_up_all(sessions)
    async with sessions() as session:
        rated = await old_conversation(session, escalated=False)
        rated.csat = 1 if rated.csat == 5 else 5
        escalated = await old_conversation(session, escalated=True)
        escalated.resolved_at = None
        escalated.first_human_response_at = None
        escalated.first_response_due_at = NOW - timedelta(days=1)
        await session.commit()
    assert await rows(sessions, StaleConversationDay) == 2
    report = await build_report(sessions, 365, NOW)
    assert report == await live_report(sessions, 365)
    assert await roll_up_conversations(sessions, NOW) >= 1
    assert await rows(sessions, StaleConversationDay) == 0
    assert await build_report(sessions, 365, NOW) == report


async def test_deleting_old_conversations_by_hand_marks_their_days_stale(
    sessions: Sessions,
) -> None:
    """deskbot itself never deletes them (erasure redacts); a database admin might."""
    await roll_up_all(sessions)
    async with sessions() as session:
        gone = await session.scalar(
            select(Customer.id)
            .join(Conversation, Conversation.customer_id == Customer.id)
            .where(Conversation.created_at < NOW - timedelta(days=30))
            .limit(1)
        )
        await session.execute(delete(Customer).where(Customer.id == gone))  # cascades
        await session.commit()
    assert await rows(sessions, StaleConversationDay) >= 1
    report, live = await build_report(sessions, 365, NOW), await live_report(sessions, 365)
    assert (report.overall, report.by_day, report.by_channel) == (
        live.overall,
        live.by_day,
        live.by_channel,
    )


async def test_a_day_waits_while_a_first_response_target_is_still_running(
    sessions: Sessions,
) -> None:
    """An unanswered escalation counts against the SLA once its target passes, with no row
    changing then: its day is counted live until that moment."""
    async with sessions() as session:
        waiting = await old_conversation(session, escalated=True)
        waiting.first_human_response_at = None
        waiting.resolved_at = None
        waiting.first_response_due_at = NOW + timedelta(hours=1)
        day = waiting.created_at.date().isoformat()
        await session.commit()
    await roll_up_all(sessions)
    async with sessions() as session:
        assert await session.get(RolledUpConversationDay, day) is None
    later = NOW + timedelta(hours=2)
    before, after = await build_report(sessions, 365, NOW), await build_report(sessions, 365, later)
    assert after.by_day[day]["sla_attainment"] != before.by_day[day]["sla_attainment"]
    assert await roll_up_conversations(sessions, later) == 1
    async with sessions() as session:
        assert await session.get(RolledUpConversationDay, day) is not None


async def test_an_erasure_while_the_rollup_counts_leaves_no_text_behind(
    sessions: Sessions,
) -> None:
    async with sessions() as session:
        customers = (
            await session.scalars(
                select(Conversation.customer_id)
                .join(Message, Message.conversation_id == Conversation.id)
                .where(Message.intent == FALLBACK_INTENT, Message.direction == "in")
                .where(Message.created_at < NOW - timedelta(days=2))
                .distinct()
                .limit(3)
            )
        ).all()
    await asyncio.gather(
        roll_up(sessions, NOW, GRACE),
        *(erase_customer(sessions, c, "admin@acme.test") for c in customers),
    )
    kept, remaining = await fallback_texts(sessions)
    assert kept <= remaining
    assert await build_report(sessions, 365, NOW) == await live_report(sessions, 365)
