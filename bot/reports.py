"""Service metrics over a period: containment, escalation, response times, SLA, CSAT, intents.

Each metric's definition lives in DEFINITIONS so the reports page and the CSV say the same
thing the code computes.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.nlu.result import FALLBACK_INTENT
from bot.report_rollup import (
    FALLBACK,
    INTENT,
    counted,
    rolled_conversation_days,
    rolled_until,
    unrolled_ranges,
    within,
)
from bot.report_tallies import TALLY_FIELDS, Tally, tally_columns, utc_day
from bot.spreadsheet import spreadsheet_safe
from models import Conversation, DailyConversationTally, DailyMessageCount, Message

DEFINITIONS = {
    "conversations": "Conversations started in the period.",
    "containment_rate": "Share of conversations the bot handled alone (never escalated).",
    "escalation_rate": "Share of conversations escalated to a person.",
    "first_response_s": "Mean time from escalation to the first human reply.",
    "handling_s": "Mean time from the first human reply to resolution.",
    "resolution_s": "Mean time from the first customer message to resolution.",
    "sla_attainment": "Share of escalations answered by a person within the first-response "
    "target (in business hours); open ones count once their target has passed.",
    "csat": "Share of 1–5 ratings that are 4 or 5.",
}
REASON_KINDS = (
    ("asked for a person", "asked for a person"),
    ("did not understand", "bot did not understand"),
    ("rejected", "rejected the bot's answers"),
    ("did not help", "rejected the bot's answers"),
    ("negative", "negative sentiment"),
    ("churn risk", "churn risk"),
    ("customer", "high-value customer"),
)
TOP = 10


def reason_kind(reason: str | None) -> str:
    text = (reason or "").lower()
    for needle, kind in REASON_KINDS:
        if needle in text:
            return kind
    return "other"


@dataclass
class Report:
    since: datetime
    until: datetime
    overall: dict[str, float | int | None]
    by_day: dict[str, dict[str, float | int | None]]
    by_channel: dict[str, dict[str, float | int | None]]
    reasons: list[tuple[str, int]]
    top_intents: list[tuple[str, int]]
    top_fallbacks: list[tuple[str, int]]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        columns = list(self.overall)
        writer.writerow(["slice", "key", *columns])
        writer.writerow(
            ["all", f"{self.since.date()}..{self.until.date()}", *self.overall.values()]
        )
        for day, row in self.by_day.items():
            writer.writerow(["day", day, *(row[c] for c in columns)])
        for channel, row in self.by_channel.items():
            writer.writerow(["channel", channel, *(row[c] for c in columns)])
        for kind, count in self.reasons:
            writer.writerow(["escalation_reason", kind, count])
        for intent, count in self.top_intents:
            writer.writerow(["intent", intent, count])
        for text, count in self.top_fallbacks:
            writer.writerow(["fallback", spreadsheet_safe(text), count])
        return out.getvalue()


async def build_report(
    sessions: async_sessionmaker[AsyncSession], days: int, now: datetime
) -> Report:
    """All figures are aggregated by the database, and settled days are read from the daily
    rollup: the rows read are about one per day and channel, whatever the period's size."""
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    overall, by_day, by_channel = Tally(), defaultdict(Tally), defaultdict(Tally)
    async with sessions() as session:
        dialect = session.get_bind().dialect.name
        for day, channel, tally in await _tallies(session, dialect, since, now):
            overall.add(tally)
            by_day[day].add(tally)
            by_channel[channel].add(tally)
        reasons = await _reasons(session, since)
        live_since = await rolled_until(session, since, now)
        intents = await _top(session, INTENT, since, live_since)
        fallbacks = await _top(session, FALLBACK, since, live_since)
    days_in_order = [(since + timedelta(days=i)).date().isoformat() for i in range(days)]
    return Report(
        since=since,
        until=now,
        overall=overall.figures(),
        by_day={d: by_day[d].figures() for d in days_in_order},
        by_channel={ch: t.figures() for ch, t in sorted(by_channel.items())},
        reasons=reasons.most_common(),
        top_intents=[(i, n) for i, n in intents if i != FALLBACK_INTENT][:TOP],
        top_fallbacks=fallbacks[:TOP],
    )


async def _tallies(
    session: AsyncSession, dialect: str, since: datetime, now: datetime
) -> list[tuple[str, str, Tally]]:
    """Settled days from the rollup, the others (recent, or changed since) counted live."""
    rolled = await rolled_conversation_days(session, since)
    t = DailyConversationTally
    stored = await session.scalars(select(t).where(t.day >= since.date().isoformat()))
    slices = [
        (row.day, row.channel, Tally(*(getattr(row, name) for name in TALLY_FIELDS)))
        for row in stored
        if row.day in rolled
    ]
    ranges = unrolled_ranges(since.date(), now.date(), rolled)
    if ranges:
        c = Conversation
        day = utc_day(c.created_at, dialect)
        rows = await session.execute(
            select(day, c.channel, *tally_columns(dialect, now))
            .where(within(c.created_at, ranges))
            .group_by(day, c.channel)
        )
        for d, channel, *values in rows:
            slices.append((str(d), channel, Tally(*(v or 0 for v in values))))
    return slices


async def _reasons(session: AsyncSession, since: datetime) -> Counter[str]:
    reason = Conversation.escalation_reason
    rows = await session.execute(
        select(reason, func.count())
        .where(Conversation.created_at >= since, Conversation.escalated_at.is_not(None))
        .group_by(reason)
    )
    kinds: Counter[str] = Counter()
    for text, n in rows:
        kinds[reason_kind(text)] += int(n)
    return kinds


async def _top(
    session: AsyncSession, kind: str, since: datetime, live_since: datetime
) -> list[tuple[str, int]]:
    """The most frequent keys of a kind: rolled-up days summed, later days counted live."""
    key, condition = counted(kind)
    rolled = select(DailyMessageCount.key.label("key"), DailyMessageCount.n.label("n")).where(
        DailyMessageCount.kind == kind,
        DailyMessageCount.day >= since.date().isoformat(),
        DailyMessageCount.day < live_since.date().isoformat(),
    )
    live = (
        select(key.label("key"), func.count().label("n"))
        .where(Message.direction == "in", Message.created_at >= live_since, condition)
        .group_by(key)
    )
    both = union_all(rolled, live).subquery()
    total = func.sum(both.c.n)
    rows = await session.execute(
        select(both.c.key, total)
        .group_by(both.c.key)
        .order_by(total.desc(), both.c.key)
        .limit(TOP + 1)
    )
    return [(str(value), int(n)) for value, n in rows]
