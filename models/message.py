"""Every message in and out, with what the NLU made of it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UtcDateTime, utcnow


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class SenderKind(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


FALLBACKS = text("intent = 'nlu_fallback' AND direction = 'in'")
"""What the bot did not understand: the report's top fallbacks read them by this index."""
UNANSWERED = text("handled_at IS NULL AND direction = 'in'")
"""Few rows at any time: the engine's catch-up sweep reads them by this index."""


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index(
            "ix_messages_unanswered",
            "created_at",
            postgresql_where=UNANSWERED,
            sqlite_where=UNANSWERED,
        ),
        Index("ix_messages_created", "created_at"),
        Index(
            "ix_messages_fallbacks",
            "created_at",
            postgresql_where=FALLBACKS,
            sqlite_where=FALLBACKS,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(4))
    sender_kind: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(128))
    confidence: Mapped[float | None] = mapped_column(Float)
    sentiment: Mapped[float | None] = mapped_column(Float)
    sentiment_label: Mapped[str | None] = mapped_column(
        String(16), doc="An agent's correction of the sentiment: training data for the model."
    )
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="When the engine finished with an inbound message (reply or routing)."
    )
