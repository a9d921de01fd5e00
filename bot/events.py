"""Domain events: named facts the engine and knowledge base announce on the bus."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from models import Message


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as sockets and APIs show it."""

    id: int
    conversation_id: int
    direction: str
    sender_kind: str
    text: str
    intent: str | None
    confidence: float | None
    created_at: str
    sentiment: float | None = None
    sentiment_label: str | None = None
    """An agent's correction of the sentiment, if any."""
    quick_replies: list[dict[str, str]] | None = None
    """Buttons under a bot message: [{"title": shown, "payload": sent back as the customer's
    text}]. Text channels get the same choices numbered in the text itself."""
    sender_name: str | None = None
    """The agent's name, on an agent's message."""
    via: str | None = None
    """"email": a web-chat customer's message that came as an answer to our email."""
    rating: int | None = None
    """The customer's CSAT rating (1–5), when this message gave it."""

    @classmethod
    def of(cls, message: Message) -> MessageView:
        created: datetime = message.created_at
        return cls(
            id=message.id,
            conversation_id=message.conversation_id,
            direction=message.direction,
            sender_kind=message.sender_kind,
            text=message.text,
            intent=message.intent,
            confidence=message.confidence,
            created_at=created.isoformat(),
            sentiment=message.sentiment,
            sentiment_label=message.sentiment_label,
            quick_replies=(message.meta or {}).get("quick_replies"),
            sender_name=(message.meta or {}).get("sender_name"),
            via=(message.meta or {}).get("via"),
            rating=(message.meta or {}).get("rating"),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Event:
    name: ClassVar[str] = "event"

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in data.items():
            if isinstance(value, MessageView):
                data[key] = value.to_json()
        return {"type": self.name, **data}


@dataclass(frozen=True, slots=True)
class KnowledgeChanged(Event):
    name: ClassVar[str] = "kb_changed"
    intent: str
    action: str


@dataclass(frozen=True, slots=True)
class ArticlesChanged(Event):
    name: ClassVar[str] = "articles_changed"
    article_id: int
    action: str


@dataclass(frozen=True, slots=True)
class MessageCreated(Event):
    name: ClassVar[str] = "message_created"
    message: MessageView


@dataclass(frozen=True, slots=True)
class ConversationChanged(Event):
    name: ClassVar[str] = "conversation_changed"
    conversation_id: int
    state: str
    previous_state: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class MessageDelivered(Event):
    """An outbound message handed to its channel for one customer thread."""

    name: ClassVar[str] = "message_delivered"
    channel: str
    external_thread: str
    message: MessageView


@dataclass(frozen=True, slots=True)
class AgentTyping(Event):
    """An agent is writing a reply in one customer thread (the widget shows it)."""

    name: ClassVar[str] = "agent_typing"
    channel: str
    external_thread: str
    agent_name: str


@dataclass(frozen=True, slots=True)
class CustomerTyping(Event):
    """A customer is writing in a conversation an agent has (the console shows it)."""

    name: ClassVar[str] = "customer_typing"
    conversation_id: int


def kb_topic() -> str:
    return "kb"


def articles_topic() -> str:
    return "articles"


def conversation_topic(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def thread_topic(channel: str, external_thread: str) -> str:
    return f"thread:{channel}:{external_thread}"


AGENTS_TOPIC = "agents"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (
        KnowledgeChanged,
        ArticlesChanged,
        MessageCreated,
        ConversationChanged,
        MessageDelivered,
        AgentTyping,
        CustomerTyping,
    )
}


def event_from_json(data: dict[str, Any]) -> Event:
    """The inverse of Event.to_json, for events that crossed a process boundary."""
    kind = EVENT_TYPES[data["type"]]
    values = {f.name: data[f.name] for f in fields(kind) if f.name in data}
    if isinstance(values.get("message"), dict):
        values["message"] = MessageView(**values["message"])
    return kind(**values)
