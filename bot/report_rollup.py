"""The daily rollups that long reports read (models/report_rollup.py).

Messages: a UTC day is rolled up once it is over and every message of it has been read by the
bot (a message the bot answers late, after a crash, still gets its intent within
`unanswered_max_age_s`). Conversations: a day is tallied once settled, and again whenever the
trigger has marked it stale. Reports sum the rolled-up days and count the rest live, so the
figures are the same whether or not the roller has run.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.nlu.result import FALLBACK_INTENT
from bot.report_tallies import TALLY_FIELDS, tally_columns, targets_still_running, utc_day
from models import (
    Conversation,
    DailyConversationTally,
    DailyMessageCount,
    Message,
    RolledUpConversationDay,
    RolledUpDay,
    StaleConversationDay,
)

log = logging.getLogger(__name__)

INTENT, FALLBACK = "intent", "fallback"
CHUNK_DAYS = 31  # one transaction per month of backfill
# A conversation is mostly done with a week after it started; one that changes later marks
# its day stale (the trigger of migration 0011 fires for days older than SETTLED_DAYS - 2,
# a day's margin for the application's and the database's clocks).
SETTLED_DAYS = 7
ROLLUP_LOCK = 0x6465736B  # "desk": the advisory lock key of take_turns


async def take_turns(session: AsyncSession) -> None:
    """Serialises the rollers and erasure, whose reads and writes of the rollup must not
    interleave (an erasure between a roller's count and its commit would leave the erased
    texts counted). On PostgreSQL a transaction-scoped advisory lock; on SQLite the caller's
    first statement must be a write, which takes the database's one write lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(ROLLUP_LOCK)))


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def counted(kind: str) -> tuple[Any, ColumnElement[bool]]:
    """What a kind counts per inbound message: its key and which messages it covers."""
    if kind == INTENT:
        return Message.intent, Message.intent.is_not(None)
    return func.lower(Message.text), Message.intent == FALLBACK_INTENT


async def roll_up(
    sessions: async_sessionmaker[AsyncSession], now: datetime, grace: timedelta
) -> int:
    """Rolls up every finished day not rolled up yet; returns how many days it added."""
    last = (now - grace).date() - timedelta(days=1)
    added = 0
    while True:
        async with sessions() as session:
            await take_turns(session)
            first = await _first_unrolled(session)
            if first is None or first > last:
                return added
            until = min(last, first + timedelta(days=CHUNK_DAYS - 1))
            try:
                await _roll_up_days(session, first, until)
            except IntegrityError:  # another process claimed these days first
                log.info("rollup already done elsewhere", extra={"day": first.isoformat()})
                return added
        added += (until - first).days + 1


async def _first_unrolled(session: AsyncSession) -> date | None:
    newest = await session.scalar(select(func.max(RolledUpDay.day)))
    if newest is not None:
        return date.fromisoformat(newest) + timedelta(days=1)
    oldest = await session.scalar(select(func.min(Message.created_at)))
    return oldest.date() if oldest is not None else None


async def _roll_up_days(session: AsyncSession, first: date, last: date) -> None:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    session.add_all(RolledUpDay(day=d.isoformat()) for d in days)
    await session.flush()  # claims the days before counting them
    dialect = session.get_bind().dialect.name
    day = utc_day(Message.created_at, dialect)
    for kind in (INTENT, FALLBACK):
        key, condition = counted(kind)
        rows = (
            select(day, literal(kind), key, func.count())
            .where(
                Message.direction == "in",
                Message.created_at >= midnight(first),
                Message.created_at < midnight(last + timedelta(days=1)),
                condition,
            )
            .group_by(day, key)
        )
        await session.execute(
            insert(DailyMessageCount).from_select(["day", "kind", "key", "n"], rows)
        )
    await session.commit()


async def rolled_until(session: AsyncSession, since: datetime, now: datetime) -> datetime:
    """The start of the first day from `since` on that is not rolled up (at most today's)."""
    first = since.date()
    rolled = set(
        await session.scalars(select(RolledUpDay.day).where(RolledUpDay.day >= first.isoformat()))
    )
    day = first
    while day < now.date() and day.isoformat() in rolled:
        day += timedelta(days=1)
    return midnight(day)


async def move_counted_texts(
    session: AsyncSession, messages: ColumnElement[bool], replacement: str
) -> None:
    """Keeps rolled-up fallback texts equal to the messages' texts when these messages'
    texts are about to become `replacement` (erasure must not leave them in the rollup)."""
    dialect = session.get_bind().dialect.name
    day = utc_day(Message.created_at, dialect)
    key, condition = counted(FALLBACK)
    counts = (
        await session.execute(
            select(day, key, func.count())
            .where(messages, Message.direction == "in", condition, day.in_(select(RolledUpDay.day)))
            .group_by(day, key)
        )
    ).all()
    c = DailyMessageCount
    for on_day, text, n in counts:
        if text == replacement:
            continue
        here = (c.kind == FALLBACK, c.day == on_day)
        await session.execute(update(c).where(*here, c.key == text).values(n=c.n - n))
        moved = await session.execute(
            update(c).where(*here, c.key == replacement).values(n=c.n + n)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            session.add(c(day=on_day, kind=FALLBACK, key=replacement, n=n))
            await session.flush()
        await session.execute(delete(c).where(*here, c.n <= 0))


async def roll_up_conversations(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Tallies every settled day not rolled up or marked stale; returns how many it stored."""
    async with sessions() as session:
        await take_turns(session)
        oldest = await session.scalar(select(func.min(Conversation.created_at)))
        if oldest is None:
            return 0
        last = now.date() - timedelta(days=SETTLED_DAYS)
        stale = (
            await session.execute(select(StaleConversationDay.id, StaleConversationDay.day))
        ).all()
        rolled = set(await session.scalars(select(RolledUpConversationDay.day)))
        stale_days = {day for _, day in stale}
        todo = {
            day.isoformat()
            for day in _days(oldest.date(), last)
            if day.isoformat() not in rolled or day.isoformat() in stale_days
        }
        if not todo:
            return 0
        tallies, running = await _tally_days(session, todo, now)
        done = sorted(todo - running)
        c, t, r = StaleConversationDay, DailyConversationTally, RolledUpConversationDay
        try:
            await session.execute(delete(t).where(t.day.in_(done)))
            await session.execute(delete(r).where(r.day.in_(done)))
            if stale:  # marks made since this pass read them stay, for the next pass
                newest_seen = max(i for i, _ in stale)
                await session.execute(delete(c).where(c.day.in_(done), c.id <= newest_seen))
            session.add_all(
                t(day=day, channel=channel, **values)
                for (day, channel), values in tallies.items()
                if day not in running
            )
            session.add_all(r(day=day) for day in done)
            await session.commit()
        except IntegrityError:  # another process rolled these days up at the same time
            return 0
        return len(done)


async def _tally_days(
    session: AsyncSession, days: set[str], now: datetime
) -> tuple[dict[tuple[str, str], dict[str, Any]], set[str]]:
    """The tallies of these days by channel, and which days still have a target running."""
    dialect = session.get_bind().dialect.name
    c = Conversation
    day = utc_day(c.created_at, dialect)
    spans = _ranges(sorted(date.fromisoformat(d) for d in days))
    rows = await session.execute(
        select(day, c.channel, targets_still_running(now), *tally_columns(dialect, now))
        .where(within(c.created_at, spans))
        .group_by(day, c.channel)
    )
    tallies: dict[tuple[str, str], dict[str, Any]] = {}
    running: set[str] = set()
    for on_day, channel, pending, *values in rows:
        if pending:
            running.add(str(on_day))
        tallies[(str(on_day), channel)] = dict(
            zip(TALLY_FIELDS, (v or 0 for v in values), strict=True)
        )
    return tallies, running


async def rolled_conversation_days(session: AsyncSession, since: datetime) -> set[str]:
    """Days from `since` whose rolled-up tallies are current."""
    first = since.date().isoformat()
    rolled = set(
        await session.scalars(
            select(RolledUpConversationDay.day).where(RolledUpConversationDay.day >= first)
        )
    )
    stale = set(
        await session.scalars(
            select(StaleConversationDay.day).where(StaleConversationDay.day >= first)
        )
    )
    return rolled - stale


def unrolled_ranges(first: date, last: date, rolled: set[str]) -> list[tuple[datetime, datetime]]:
    """[start, end) spans of the days from first to last (inclusive) not in `rolled`."""
    return _ranges([d for d in _days(first, last) if d.isoformat() not in rolled])


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _ranges(days: list[date]) -> list[tuple[datetime, datetime]]:
    """Sorted days merged into [start, end) spans of consecutive days."""
    spans: list[tuple[datetime, datetime]] = []
    for day in days:
        start, end = midnight(day), midnight(day + timedelta(days=1))
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def within(column: Any, spans: list[tuple[datetime, datetime]]) -> ColumnElement[bool]:
    return or_(*((column >= start) & (column < end) for start, end in spans))
