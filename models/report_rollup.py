"""Per-day counts of the messages reports rank (intents, what the bot did not understand).

Messages are many and do not change once their day is over, so a report over a long period
sums these rows instead of grouping millions of messages. Conversations are few and change
for weeks (resolved, rated), so reports aggregate them live.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
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
