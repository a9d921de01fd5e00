"""Per-day figures that long reports sum instead of reading a year of rows (bot/report_rollup.py).

Messages do not change once their day is over: their counts are rolled up the day after.
Conversations change for days (answered, resolved, rated): they are tallied once settled, and
a trigger marks the day stale when one of them changes after that.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UtcDateTime, utcnow


class RolledUpDay(Base):
    """A UTC day whose message counts are in daily_message_counts; its key makes two
    processes rolling up the same day collide instead of counting it twice."""

    __tablename__ = "rolled_up_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    rolled_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DailyMessageCount(Base):
    __tablename__ = "daily_message_counts"
    __table_args__ = (Index("ix_daily_message_counts_day", "kind", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(16))  # "intent" or "fallback"
    key: Mapped[str] = mapped_column(Text)  # the intent, or the lowercased text
    n: Mapped[int] = mapped_column(Integer)


class RolledUpConversationDay(Base):
    """A UTC day whose conversations are tallied in daily_conversation_tallies. Days are
    rolled up once settled (a week old, no first-response target still to pass)."""

    __tablename__ = "rolled_up_conversation_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    rolled_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class StaleConversationDay(Base):
    """A rolled-up day one of whose conversations changed since (resolved, rated, deleted):
    written by a database trigger (migration 0011), so no code path can forget it. Reports
    count such a day live until the roller has tallied it again."""

    __tablename__ = "stale_conversation_days"
    __table_args__ = (Index("ix_stale_conversation_days_day", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10))


class DailyConversationTally(Base):
    """bot.report_tallies.Tally for the conversations of one day and channel."""

    __tablename__ = "daily_conversation_tallies"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversations: Mapped[int] = mapped_column(Integer)
    escalated: Mapped[int] = mapped_column(Integer)
    first_response_sum: Mapped[float] = mapped_column(Float)
    first_response_n: Mapped[int] = mapped_column(Integer)
    handling_sum: Mapped[float] = mapped_column(Float)
    handling_n: Mapped[int] = mapped_column(Integer)
    resolution_sum: Mapped[float] = mapped_column(Float)
    resolution_n: Mapped[int] = mapped_column(Integer)
    sla_met: Mapped[int] = mapped_column(Integer)
    sla_due: Mapped[int] = mapped_column(Integer)
    csat_good: Mapped[int] = mapped_column(Integer)
    csat_rated: Mapped[int] = mapped_column(Integer)
