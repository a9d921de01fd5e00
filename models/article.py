"""Help-centre articles and the passages (heading + paragraph) the bot answers from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UtcDateTime, utcnow


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("slug", "language", name="uq_articles_slug_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(128))
    """The article's own id (file name, CSV id); with `language` it names one article."""
    language: Mapped[str] = mapped_column(String(8), default="en")
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    """As written (Markdown or plain text; HTML is converted to Markdown on import)."""
    url: Mapped[str | None] = mapped_column(String(2000))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320))

    passages: Mapped[list[ArticlePassage]] = relationship(
        back_populates="article",
        cascade="all, delete-orphan",
        order_by="ArticlePassage.position",
        passive_deletes=True,
    )


class ArticlePassage(Base):
    __tablename__ = "article_passages"
    __table_args__ = (Index("ix_article_passages_article", "article_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(String(300), default="")
    """The section the passage sits under ("Billing › Refunds"), empty before any heading."""
    text: Mapped[str] = mapped_column(Text)

    article: Mapped[Article] = relationship(back_populates="passages")
