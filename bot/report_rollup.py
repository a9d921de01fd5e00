"""The daily rollup of message counts that long reports read (models/report_rollup.py).

A UTC day is rolled up once it is over and every message of it has been read by the bot (a
message the bot answers late, after a crash, still gets its intent within
`unanswered_max_age_s`). Reports sum the rolled-up days and count the rest live, so the
figures are the same whether or not the roller has run.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.nlu.result import FALLBACK_INTENT
from models import DailyMessageCount, Message, RolledUpDay

log = logging.getLogger(__name__)

INTENT, FALLBACK = "intent", "fallback"
CHUNK_DAYS = 31  # one transaction per month of backfill


def utc_day(column: Any, dialect: str) -> Any:
    """The column's UTC calendar day as 'YYYY-MM-DD'."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.date(column)  # SQLite stores UTC as text


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
