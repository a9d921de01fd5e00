"""The two small contracts every channel implements: what comes in, and how a reply goes out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f"  # C0 controls but tab and newlines; PostgreSQL rejects NUL
    r"\u202a-\u202e\u2066-\u2069"  # bidi overrides: text that displays other than it reads
    r"\ud800-\udfff]"  # lone surrogates, which no database column can store
)


class InvalidMessage(ValueError):
    """A message the engine refuses (empty, too long); the caller answers 4xx."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message, normalised from whatever the platform sent."""

    channel: str
    external_user: str
    external_thread: str
    external_id: str
    text: str
    sent_at: datetime | None = None
    display_name: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)


def clean_text(text: str, max_chars: int) -> str:
    """Drop control characters, trim, and enforce the size limit."""
    cleaned = _CONTROL.sub("", text).strip()
    if not cleaned:
        raise InvalidMessage("message text is empty")
    if len(cleaned) > max_chars:
        raise InvalidMessage(f"message is {len(cleaned)} characters; the limit is {max_chars}")
    return cleaned


@dataclass(frozen=True, slots=True)
class DeliveryTarget:
    """Exactly who an outbound message is for: never 'whoever is connected'."""

    channel: str
    external_user: str
    external_thread: str


@dataclass(frozen=True, slots=True)
class OutboundText:
    message_id: int
    conversation_id: int
    sender_kind: str
    text: str
    created_at: datetime
    quick_replies: list[dict[str, str]] | None = None
    """Buttons for channels that show them; the choices are numbered in `text` too."""


class DeliveryError(Exception):
    """The channel could not deliver now; the dispatcher retries (after `retry_after` if given)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutputChannel(Protocol):
    name: str

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        """Deliver one text message or raise DeliveryError."""
