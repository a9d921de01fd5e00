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
from bot.report_rollup import roll_up
from bot.reports import Report, build_report
from bot.settings import Settings
from models import Conversation, DailyMessageCount, Message, RolledUpDay

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
    """The report counted from the messages alone, the rollup set aside."""
    async with sessions() as session:
        saved = (await session.scalars(select(RolledUpDay.day))).all()
        await session.execute(delete(RolledUpDay))
        await session.commit()
    try:
        return await build_report(sessions, days, NOW)
    finally:
        async with sessions() as session:
            session.add_all(RolledUpDay(day=d) for d in saved)
            await session.commit()


async def rows(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_reports_read_the_same_figures_from_the_rollup(sessions: Sessions) -> None:
    before = {days: await build_report(sessions, days, NOW) for days in (1, 7, 30, 365)}
    assert before[365].top_fallbacks and before[365].top_intents
    added = await roll_up(sessions, NOW, GRACE)
    assert 300 <= added <= 366  # every finished day since the first message, today excluded
    assert await rows(sessions, DailyMessageCount) > added
    for days, report in before.items():
        assert await build_report(sessions, days, NOW) == report
    assert await roll_up(sessions, NOW, GRACE) == 0  # nothing new: done once
    assert await roll_up(sessions, NOW + timedelta(days=1), GRACE) == 1


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
    finally:
        await other_engine.dispose()
    assert 300 <= sum(added) <= 366
    async with sessions() as session:
        days = await session.scalar(select(func.count()).select_from(RolledUpDay))
    assert days == sum(added)
    assert await build_report(sessions, 365, NOW) == expected
