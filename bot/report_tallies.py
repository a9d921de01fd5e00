"""The sums behind the conversation figures of a report, as SQL aggregates and as a Tally.

The same aggregate serves a live report over recent days and the roller that stores it per
day and channel (models/report_rollup.py), so both count alike.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func

from models import Conversation


@dataclass
class Tally:
    """Sums for one slice (all, one day, one channel), as the aggregate query returns them."""

    conversations: int = 0
    escalated: int = 0
    first_response_sum: float = 0.0
    first_response_n: int = 0
    handling_sum: float = 0.0
    handling_n: int = 0
    resolution_sum: float = 0.0
    resolution_n: int = 0
    sla_met: int = 0
    sla_due: int = 0
    csat_good: int = 0
    csat_rated: int = 0

    def add(self, other: Tally) -> None:
        for name in TALLY_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def figures(self) -> dict[str, float | int | None]:
        n = self.conversations
        return {
            "conversations": n,
            "containment_rate": _share(n - self.escalated, n),
            "escalation_rate": _share(self.escalated, n),
            "first_response_s": _mean(self.first_response_sum, self.first_response_n),
            "handling_s": _mean(self.handling_sum, self.handling_n),
            "resolution_s": _mean(self.resolution_sum, self.resolution_n),
            "sla_attainment": _share(self.sla_met, self.sla_due),
            "csat": _share(self.csat_good, self.csat_rated),
            "csat_ratings": self.csat_rated,
        }


TALLY_FIELDS = tuple(f.name for f in fields(Tally))


def utc_day(column: Any, dialect: str) -> Any:
    """The column's UTC calendar day as 'YYYY-MM-DD'."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.date(column)  # SQLite stores UTC as text


def tally_columns(dialect: str, now: datetime) -> list[Any]:
    """One aggregate per Tally field, in field order, over conversations."""
    c = Conversation
    escalated = c.escalated_at.is_not(None)
    answered = c.first_human_response_at.is_not(None)
    resolved = c.resolved_at.is_not(None)
    due = escalated & c.first_response_due_at.is_not(None)
    count = func.count
    return [
        count(),
        count().filter(escalated),
        func.sum(_seconds(c.escalated_at, c.first_human_response_at, dialect)).filter(
            escalated & answered
        ),
        count().filter(escalated & answered),
        func.sum(_seconds(c.first_human_response_at, c.resolved_at, dialect)).filter(
            answered & resolved
        ),
        count().filter(answered & resolved),
        func.sum(_seconds(c.created_at, c.resolved_at, dialect)).filter(resolved),
        count().filter(resolved),
        count().filter(due & answered & (c.first_human_response_at <= c.first_response_due_at)),
        count().filter(due & (answered | (c.first_response_due_at < now))),
        count().filter(c.csat >= 4),
        count().filter(c.csat.is_not(None)),
    ]


def targets_still_running(now: datetime) -> Any:
    """Escalations whose first-response target has not passed yet: their SLA count will
    change with time alone, so their day cannot be rolled up."""
    c = Conversation
    return func.count().filter(
        c.escalated_at.is_not(None),
        c.first_human_response_at.is_(None),
        c.first_response_due_at >= now,
    )


def _seconds(start: Any, end: Any, dialect: str) -> Any:
    """Seconds from start to end, never negative (clocks of two processes can disagree)."""
    if dialect == "postgresql":
        return func.greatest(0.0, func.extract("epoch", end - start))
    return func.max(0.0, (func.julianday(end) - func.julianday(start)) * 86400.0)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(total: float, n: int) -> float | None:
    return round(total / n, 1) if n else None
