"""Web-chat visitors who left the page: whether they are there, and the email thread their
replies take instead (a visitor who left an address, or a signed-in customer's)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from escalation.customers import CONTACT_EMAIL
from models import Conversation, Customer, CustomerIdentity, Message, SenderKind
from models.base import utcnow

WEBCHAT = "webchat"
SEEN_BEAT_S = 60
"""An open widget's socket stamps its visitor this often."""
FIRST_BEAT_S = 5
"""…and this often until the visitor is somebody (their first message or address)."""
SEEN_FOR_S = 150
"""A visitor not stamped for this long has gone (a dropped connection, a sleeping laptop)."""
EMAIL_THREAD_MARK = "webchat."
_EMAIL_THREAD = re.compile(r"<webchat\.([A-Za-z0-9_-]{1,64})@deskbot>")
VIA_EMAIL = "email"
"""meta["via"] of a web-chat message the customer sent by answering one of our emails."""


def email_thread(webchat_thread: str) -> str:
    """The email thread of a web chat, shaped as a Message-ID so our mails' ids carry it."""
    return f"<{EMAIL_THREAD_MARK}{webchat_thread}@deskbot>"


def webchat_thread(email_thread_id: str) -> str | None:
    found = _EMAIL_THREAD.fullmatch(email_thread_id)
    return found.group(1) if found else None


async def mark_seen(sessions: async_sessionmaker[AsyncSession], visitor_id: str) -> datetime | None:
    """The visitor's page is open now; the stamp is what mark_left clears. None: the visitor
    is nobody yet (no message, no address given)."""
    stamp = utcnow()
    async with sessions() as session:
        result = await session.execute(
            update(CustomerIdentity)
            .where(
                CustomerIdentity.channel == WEBCHAT, CustomerIdentity.external_user == visitor_id
            )
            .values(seen_at=stamp)
        )
        await session.commit()
    return stamp if result.rowcount else None  # type: ignore[attr-defined]


async def mark_left(
    sessions: async_sessionmaker[AsyncSession],
    visitor_id: str,
    stamp: datetime | None,
    opened_at: datetime,
) -> None:
    """This page closed. Another open page (a second tab, the phone) that stamped since keeps
    the visitor there. A page that never stamped (the visitor became somebody moments before
    leaving) clears what was stamped while it was open."""
    mine = CustomerIdentity.seen_at == stamp if stamp else CustomerIdentity.seen_at >= opened_at
    async with sessions() as session:
        await session.execute(
            update(CustomerIdentity)
            .where(
                CustomerIdentity.channel == WEBCHAT,
                CustomerIdentity.external_user == visitor_id,
                mine,
            )
            .values(seen_at=None)
        )
        await session.commit()


async def away_address(
    session: AsyncSession, conversation: Conversation, sender: SenderKind
) -> str | None:
    """Where a reply in this web chat goes by email too, or None: the visitor is on the page,
    left no address, or the reply is the bot's to a visitor who wrote in the widget (they
    see it there when they come back)."""
    row = (
        await session.execute(
            select(CustomerIdentity.seen_at, Customer.email, Customer.attributes)
            .join(Customer, Customer.id == CustomerIdentity.customer_id)
            .where(
                CustomerIdentity.customer_id == conversation.customer_id,
                CustomerIdentity.channel == WEBCHAT,
                CustomerIdentity.external_user == conversation.external_thread,
            )
        )
    ).first()
    address = row and (row.email or (row.attributes or {}).get(CONTACT_EMAIL))
    if not address:
        return None
    if row.seen_at is not None and row.seen_at > utcnow() - timedelta(seconds=SEEN_FOR_S):
        return None
    if sender is SenderKind.AGENT or await _last_came_by_email(session, conversation.id):
        return str(address)
    return None


async def _last_came_by_email(session: AsyncSession, conversation_id: int) -> bool:
    meta = await session.scalar(
        select(Message.meta)
        .where(Message.conversation_id == conversation_id, Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(1)
    )
    return bool(meta) and meta.get("via") == VIA_EMAIL


async def visitor_addresses(session: AsyncSession, thread: str) -> set[str]:
    """The addresses a web-chat visitor's replies may come by email from."""
    row = (
        await session.execute(
            select(Customer.email, Customer.attributes)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
            .where(CustomerIdentity.channel == WEBCHAT, CustomerIdentity.external_user == thread)
        )
    ).first()
    if row is None:
        return set()
    found = {row.email, (row.attributes or {}).get(CONTACT_EMAIL)}
    return {str(a).lower() for a in found if a}
