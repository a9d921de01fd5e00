"""Outbound deliveries, written in the same transaction as the reply they carry."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UtcDateTime, utcnow


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


PENDING = text("status = 'pending'")


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # one delivery of a message per channel: a web chat's reply may go by email too
        UniqueConstraint("message_id", "channel", name="uq_outbox_message_channel"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # the dispatcher's lease: the oldest due pending row of each thread (migration 0013)
        Index("ix_outbox_pending", "id", postgresql_where=PENDING, sqlite_where=PENDING),
        Index(
            "ix_outbox_pending_thread",
            "channel",
            "external_thread",
            "id",
            postgresql_where=PENDING,
            sqlite_where=PENDING,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    external_user: Mapped[str] = mapped_column(String(255))
    external_thread: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
