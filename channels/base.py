"""The two small contracts every channel implements: what comes in, and how a reply goes out."""

from __future__ import annotations

import hashlib
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

ID_CHARS = 255
"""The width of every external id column (models: external_user, external_thread, external_id)."""
NAME_CHARS = 200
"""The width of customers.display_name."""
META_CHARS = 2000
"""Enough for any honest subject or header a reply needs; meta is shown to agents."""


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

    def __post_init__(self) -> None:
        """Whatever a platform supplied besides the text is cleaned here, once for every
        channel: a NUL makes PostgreSQL refuse the whole row, a CR/LF breaks the mail headers
        built from it, and an over-long value overflows its column. Names and fields are cut,
        never refused: a bad name must not lose the message."""
        set_field = object.__setattr__  # frozen: cleaning is part of construction
        set_field(self, "external_user", clean_id(self.external_user))
        set_field(self, "external_thread", clean_id(self.external_thread))
        set_field(self, "external_id", clean_id(self.external_id))
        set_field(self, "display_name", clean_field(self.display_name, NAME_CHARS) or None)
        set_field(
            self,
            "meta",
            {
                clean_field(key, 64): clean_field(value, META_CHARS)
                if isinstance(value, str)
                else value
                for key, value in self.meta.items()
            },
        )


def clean_text(text: str, max_chars: int) -> str:
    """Drop control characters, trim, and enforce the size limit."""
    cleaned = _CONTROL.sub("", text).strip()
    if not cleaned:
        raise InvalidMessage("message text is empty")
    if len(cleaned) > max_chars:
        raise InvalidMessage(f"message is {len(cleaned)} characters; the limit is {max_chars}")
    return cleaned


def clean_field(value: object, max_chars: int) -> str:
    """A platform-supplied name or header field as one line of printable text, at most
    `max_chars` long (cut, never refused). Anything that is not a string becomes ""."""
    if not isinstance(value, str):
        return ""
    return " ".join(_CONTROL.sub("", value).split())[:max_chars].rstrip()


def clean_id(value: object) -> str:
    """A platform's identifier without control characters, and one that fits its column:
    a longer one is replaced by its digest (still stable, so it still dedupes)."""
    cleaned = _CONTROL.sub("", value if isinstance(value, str) else str(value))
    cleaned = cleaned.replace("\r", "").replace("\n", "").replace("\t", " ")
    if len(cleaned) <= ID_CHARS:
        return cleaned
    return "sha256:" + hashlib.sha256(cleaned.encode("utf-8", "replace")).hexdigest()


def fit_text(text: object, max_chars: int) -> tuple[str, int | None]:
    """For a platform that cannot be told "too long" (Slack, Telegram, mail): the message
    cut to fit, with a notice agents see, and its full length (None when it fitted)."""
    if not isinstance(text, str):
        raise InvalidMessage("message text is not a string")
    cleaned = _CONTROL.sub("", text).strip()
    if len(cleaned) <= max_chars:
        return cleaned, None
    notice = f"\n[message cut: {len(cleaned)} characters, the limit is {max_chars}]"
    return cleaned[: max(max_chars - len(notice), 0)].rstrip() + notice, len(cleaned)


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
    sender_name: str | None = None
    """The agent's name, on an agent's message."""


class DeliveryError(Exception):
    """The channel could not deliver now; the dispatcher retries (after `retry_after` if given).

    `outage`: the channel itself is unreachable (its bus or server), not this recipient; the
    first delivery that gets through on the channel again makes every reply put off by its
    outage due at once, instead of each waiting out its own backoff."""

    def __init__(
        self, message: str, retry_after: float | None = None, outage: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.outage = outage


class OutputChannel(Protocol):
    name: str

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        """Deliver one text message or raise DeliveryError."""
