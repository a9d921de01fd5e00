"""Customers and the identities they have on each channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UtcDateTime, utcnow

# Built by migration 0012 for one backend each, so the models do not declare them: trigram
# indexes on PostgreSQL, an FTS5 trigram table kept by triggers on SQLite (bot/customer_search.py).
SEARCH_OBJECTS = ("ix_customers_name_trgm", "ix_customers_email_trgm", "customers_fts")


def is_search_object(name: str | None) -> bool:
    return bool(name) and any(str(name).startswith(prefix) for prefix in SEARCH_OBJECTS)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_email", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    tier: Mapped[str] = mapped_column(String(40), default="standard")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    identities: Mapped[list[CustomerIdentity]] = relationship(back_populates="customer")


class CustomerIdentity(Base):
    """Who the customer is on one channel (a Telegram user id, a web-chat visitor id, ...)."""

    __tablename__ = "customer_identities"
    __table_args__ = (
        UniqueConstraint("channel", "external_user"),
        Index("ix_customer_identities_customer", "customer_id", "channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    external_user: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """Web chat: the visitor's page was open then (it beats while open; cleared on leaving)."""

    customer: Mapped[Customer] = relationship(back_populates="identities")
