"""Service metrics over a period: containment, escalation, response times, SLA, CSAT, intents.

Each metric's definition lives in DEFINITIONS so the reports page and the CSV say the same
thing the code computes.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import fmean

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.nlu.result import FALLBACK_INTENT
from bot.spreadsheet import spreadsheet_safe
from models import Conversation, Message

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
class Tally:
    """Running sums for one slice (all, one day, one channel)."""

    conversations: int = 0
    escalated: int = 0
    first_responses: list[float] = field(default_factory=list)
    handling: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)
    sla_met: int = 0
    sla_due: int = 0
    csat_good: int = 0
    csat_rated: int = 0

    def add(self, c: Conversation, now: datetime) -> None:
        self.conversations += 1
        if c.escalated_at is not None:
            self.escalated += 1
            self._sla(c, now)
        if c.first_human_response_at and c.escalated_at:
            self.first_responses.append(_seconds(c.escalated_at, c.first_human_response_at))
        if c.resolved_at and c.first_human_response_at:
            self.handling.append(_seconds(c.first_human_response_at, c.resolved_at))
        if c.resolved_at:
            self.resolution.append(_seconds(c.created_at, c.resolved_at))
        if c.csat is not None:
            self.csat_rated += 1
            self.csat_good += c.csat >= 4

    def _sla(self, c: Conversation, now: datetime) -> None:
        due = c.first_response_due_at
        if due is None:
            return
        answered = c.first_human_response_at
        if answered is not None:
            self.sla_due += 1
            self.sla_met += answered <= due
        elif now > due:
            self.sla_due += 1

    def figures(self) -> dict[str, float | int | None]:
        n = self.conversations
        return {
            "conversations": n,
            "containment_rate": _share(n - self.escalated, n),
            "escalation_rate": _share(self.escalated, n),
            "first_response_s": _mean(self.first_responses),
            "handling_s": _mean(self.handling),
            "resolution_s": _mean(self.resolution),
            "sla_attainment": _share(self.sla_met, self.sla_due),
            "csat": _share(self.csat_good, self.csat_rated),
            "csat_ratings": self.csat_rated,
        }


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
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    overall, by_day, by_channel = Tally(), defaultdict(Tally), defaultdict(Tally)
    reasons: Counter[str] = Counter()
    async with sessions() as session:
        conversations = await session.stream_scalars(
            select(Conversation).where(Conversation.created_at >= since)
        )
        async for c in conversations:
            overall.add(c, now)
            by_day[c.created_at.date().isoformat()].add(c, now)
            by_channel[c.channel].add(c, now)
            if c.escalated_at is not None:
                reasons[reason_kind(c.escalation_reason)] += 1
        intents = await _top(session, Message.intent, since, Message.intent.is_not(None))
        fallbacks = await _top(
            session, func.lower(Message.text), since, Message.intent == FALLBACK_INTENT
        )
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


async def _top(session: AsyncSession, column, since: datetime, condition) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    count = func.count().label("n")
    rows = await session.execute(
        select(column, count)
        .where(Message.direction == "in", Message.created_at >= since, condition)
        .group_by(column)
        .order_by(count.desc(), column)
        .limit(TOP + 1)
    )
    return [(str(value), int(n)) for value, n in rows]


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 1) if values else None
