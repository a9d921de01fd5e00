"""People who work in deskbot: agents and admins."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UtcDateTime, utcnow


class AgentRole(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default=AgentRole.AGENT.value)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="offline")
    """The agent's choice; whether they are there is escalation.presence's reading of it."""
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The last heartbeat of any staff page the agent has open."""
    last_active_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The last time the agent typed, clicked or scrolled on one."""
    last_slack_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The agent's last claim or reply from Slack, where no page beats."""
    last_assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When automatic assignment last gave this agent a chat (round robin goes by it)."""
    teams: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["support"])
    max_concurrent: Mapped[int] = mapped_column(Integer, default=3)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
