"""A conversation with one customer on one channel thread, and its states."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UtcDateTime, utcnow


class ConversationState(enum.StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"
    RESOLVED = "resolved"


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_thread", "channel", "external_thread"),
        Index("ix_conversations_state_priority", "state", "priority"),
        Index("ix_conversations_customer", "customer_id", "id"),
        Index("ix_conversations_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    external_thread: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default=ConversationState.BOT.value)
    language: Mapped[str] = mapped_column(String(8), default="en")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    team: Mapped[str | None] = mapped_column(String(64))
    escalation_reason: Mapped[str | None] = mapped_column(String(500))
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    fallback_streak: Mapped[int] = mapped_column(Integer, default=0)
    pending_choice: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What the bot last asked the customer to choose (clarify options, a confirmation), so
    a reply of "2" or "yes" is read against it; cleared by the next bot turn."""
    bot_turns: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Counts the bot's committed turns: a turn commits only if none committed since it read
    the conversation, so two messages at once cannot both consume one pending choice."""
    csat: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_human_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
