"""A customer's data on request: export everything stored about them, or erase them.

Erasure keeps the rows reports count (conversations, message counts, timings, CSAT) and
removes what identifies the person: message text, notes, channel identities and thread ids,
name, email, CRM attributes. Replies not yet delivered are cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.report_rollup import move_counted_texts, take_turns
from models import (
    AuditEntry,
    Conversation,
    ConversationNote,
    ConversationState,
    Customer,
    CustomerIdentity,
    Message,
    OutboxItem,
    OutboxStatus,
)
from models.base import utcnow

REDACTED = "[erased]"


class CustomerNotFound(LookupError):
    status = 404


async def export_customer(
    sessions: async_sessionmaker[AsyncSession], customer_id: int, actor: str
) -> dict[str, Any]:
    async with sessions() as session:
        customer = await _customer(session, customer_id)
        identities = (
            await session.scalars(
                select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
            )
        ).all()
        conversations = (
            await session.scalars(
                select(Conversation)
                .where(Conversation.customer_id == customer_id)
                .order_by(Conversation.id)
            )
        ).all()
        ids = [c.id for c in conversations]
        messages = (
            await session.scalars(
                select(Message).where(Message.conversation_id.in_(ids)).order_by(Message.id)
            )
        ).all()
        notes = (
            await session.scalars(
                select(ConversationNote)
                .where(ConversationNote.conversation_id.in_(ids))
                .order_by(ConversationNote.id)
            )
        ).all()
        session.add(_audit(actor, "customer_exported", customer_id))
        await session.commit()
    return {
        "customer": {
            "id": customer.id,
            "display_name": customer.display_name,
            "email": customer.email,
            "tier": customer.tier,
            "attributes": customer.attributes,
            "created_at": customer.created_at.isoformat(),
            "erased_at": customer.erased_at.isoformat() if customer.erased_at else None,
        },
        "identities": [
            {"channel": i.channel, "external_user": i.external_user} for i in identities
        ],
        "conversations": [
            {
                "id": c.id,
                "channel": c.channel,
                "state": c.state,
                "language": c.language,
                "created_at": c.created_at.isoformat(),
                "resolved_at": c.resolved_at.isoformat() if c.resolved_at else None,
                "csat": c.csat,
                "messages": [_message(m) for m in messages if m.conversation_id == c.id],
                "notes": [
                    {"text": n.text, "created_at": n.created_at.isoformat()}
                    for n in notes
                    if n.conversation_id == c.id
                ],
            }
            for c in conversations
        ],
    }


@dataclass(frozen=True, slots=True)
class Erased:
    counts: dict[str, int]
    closed: list[tuple[int, str]]
    """The conversations erasure ended, with the state each was in (for the consoles)."""


async def erase_customer(
    sessions: async_sessionmaker[AsyncSession], customer_id: int, actor: str
) -> Erased:
    async with sessions() as session:
        customer = await _customer(session, customer_id)
        await take_turns(session)
        now = utcnow()
        customer.erased_at = now
        await session.flush()  # the first write: on SQLite, the turn take_turns speaks of
        closed = await _end_open_conversations(session, customer_id, now)
        ids = select(Conversation.id).where(Conversation.customer_id == customer_id)
        await move_counted_texts(session, Message.conversation_id.in_(ids), REDACTED)
        messages = await session.execute(
            update(Message)
            .where(Message.conversation_id.in_(ids))
            .values(text=REDACTED, meta={}, external_id=None)
        )
        notes = await session.execute(
            update(ConversationNote)
            .where(ConversationNote.conversation_id.in_(ids))
            .values(text=REDACTED)
        )
        message_ids = select(Message.id).where(Message.conversation_id.in_(ids))
        await session.execute(
            update(OutboxItem)
            .where(OutboxItem.message_id.in_(message_ids))
            .values(external_user=REDACTED, external_thread=REDACTED)
        )
        await session.execute(
            update(OutboxItem)
            .where(
                OutboxItem.message_id.in_(message_ids),
                OutboxItem.status == OutboxStatus.PENDING.value,
            )
            .values(status=OutboxStatus.FAILED.value, last_error="customer erased")
        )
        await session.execute(
            update(Conversation)
            .where(Conversation.customer_id == customer_id)
            .values(external_thread=REDACTED)
        )
        identities = await session.execute(
            delete(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
        )
        customer.display_name = ""
        customer.email = None
        customer.attributes = {}
        counts = {
            "messages_redacted": messages.rowcount,
            "notes_redacted": notes.rowcount,
            "identities_removed": identities.rowcount,
            "conversations_closed": len(closed),
        }
        session.add(_audit(actor, "customer_erased", customer_id, counts))
        await session.commit()
    return Erased(counts, closed)


async def _end_open_conversations(
    session: AsyncSession, customer_id: int, now: datetime
) -> list[tuple[int, str]]:
    """Nobody can answer an erased customer (their channel identity is gone): their open
    chats leave the queue and the agents' lists. The turn count moves too, so a bot turn
    thinking at this moment cannot commit its answer."""
    open_ones = (
        await session.execute(
            select(Conversation.id, Conversation.state).where(
                Conversation.customer_id == customer_id,
                Conversation.state != ConversationState.RESOLVED.value,
            )
        )
    ).all()
    if open_ones:
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_([row.id for row in open_ones]))
            .values(
                state=ConversationState.RESOLVED.value,
                resolved_at=now,
                pending_choice=None,
                bot_turns=Conversation.bot_turns + 1,
            )
            .execution_options(synchronize_session=False)
        )
    return [(row.id, row.state) for row in open_ones]


async def _customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    return customer


def _message(m: Message) -> dict[str, Any]:
    return {
        "direction": m.direction,
        "sender_kind": m.sender_kind,
        "text": m.text,
        "intent": m.intent,
        "sentiment": m.sentiment,
        "created_at": m.created_at.isoformat(),
    }


def _audit(
    actor: str, action: str, customer_id: int, details: dict[str, int] | None = None
) -> AuditEntry:
    return AuditEntry(
        actor=actor,
        action=action,
        entity="customer",
        entity_id=str(customer_id),
        details=details or {},
    )
