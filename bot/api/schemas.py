"""Response shapes shared by several APIs."""

from __future__ import annotations

from pydantic import BaseModel


class MessageOut(BaseModel):
    """A message as the web chat and the admin API show it (bot.events.MessageView)."""

    id: int
    conversation_id: int
    direction: str
    sender_kind: str
    text: str
    intent: str | None
    confidence: float | None
    created_at: str
    sentiment: float | None = None
    quick_replies: list[dict[str, str]] | None = None
    sentiment_label: str | None = None
    """An agent's correction of the sentiment, if any."""
