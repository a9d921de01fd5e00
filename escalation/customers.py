"""The CRM side: customer attributes and tiers imported from a company's own records."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import AuditEntry, Customer, CustomerIdentity
from models.base import utcnow

TIER_COLUMN = "tier"
MAX_ATTRIBUTES = 100
MAX_VALUE_CHARS = 500


class CustomerDataError(ValueError):
    pass


def parse_customer_csv(text: str, key: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or key not in reader.fieldnames:
        raise CustomerDataError(f"the CSV needs a {key!r} column to match customers by email")
    if len(reader.fieldnames) > MAX_ATTRIBUTES:
        raise CustomerDataError(f"at most {MAX_ATTRIBUTES} columns")
    rows = []
    for line, row in enumerate(reader, start=2):
        email = (row.get(key) or "").strip().lower()
        if "@" not in email:
            raise CustomerDataError(f"line {line}: {key} {email!r} is not an email address")
        if any(len(v or "") > MAX_VALUE_CHARS for v in row.values()):
            raise CustomerDataError(f"line {line}: a value is over {MAX_VALUE_CHARS} characters")
        rows.append({k: (v or "").strip() for k, v in row.items() if k is not None} | {key: email})
    return rows


async def import_customers(
    sessions: async_sessionmaker[AsyncSession], rows: Sequence[dict[str, str]], key: str, actor: str
) -> dict[str, int]:
    """Create or update customers by email in one transaction; other columns become attributes."""
    counts = {"created": 0, "updated": 0}
    async with sessions() as session:
        emails = [r[key] for r in rows]
        existing = {
            c.email: c
            for c in (
                await session.scalars(select(Customer).where(Customer.email.in_(emails)))
            ).all()
        }
        for row in rows:
            attributes = {k: v for k, v in row.items() if k not in {key, TIER_COLUMN}}
            customer = existing.get(row[key])
            if customer is None:
                customer = Customer(email=row[key], display_name="", attributes={})
                session.add(customer)
                existing[row[key]] = customer
                counts["created"] += 1
            else:
                counts["updated"] += 1
            customer.attributes = {**customer.attributes, **attributes}
            if row.get(TIER_COLUMN):
                customer.tier = row[TIER_COLUMN].lower()
        session.add(
            AuditEntry(
                actor=actor, action="import", entity="customer", entity_id="*", details=counts
            )
        )
        await session.commit()
    return counts


LINK_ATTEMPTS = 3
CONTACT_EMAIL = "contact_email"
"""The attribute holding the address a visitor typed into the widget."""


async def link_identity(
    sessions: async_sessionmaker[AsyncSession],
    channel: str,
    external_user: str,
    *,
    user_id: str,
    email: str | None,
    name: str | None,
) -> int:
    """Tie a channel identity the company vouched for to its CRM customer (matched by email,
    created if new) and return the customer's id. A race with another sign-in of the same user
    loses to the unique identity and reads the winner's row."""
    for attempt in range(LINK_ATTEMPTS):
        try:
            async with sessions() as session:
                customer = await _customer_for(session, channel, external_user, email)
                customer.attributes = {**(customer.attributes or {}), "user_id": user_id}
                if email and not customer.email:
                    customer.email = email
                if name:
                    customer.display_name = name
                await session.commit()
                return customer.id
        except IntegrityError:
            if attempt == LINK_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def _customer_for(
    session: AsyncSession, channel: str, external_user: str, email: str | None
) -> Customer:
    linked = await session.scalar(
        select(Customer)
        .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
        .where(CustomerIdentity.channel == channel, CustomerIdentity.external_user == external_user)
    )
    if linked is not None:
        return linked
    customer = await customer_by_email(session, email) if email else None
    if customer is None:
        customer = Customer(email=email, display_name="", attributes={})
        session.add(customer)
        await session.flush()
    session.add(
        CustomerIdentity(
            customer_id=customer.id, channel=channel, external_user=external_user, seen_at=utcnow()
        )
    )
    await session.flush()
    return customer


async def customer_by_email(session: AsyncSession, email: str) -> Customer | None:
    """The CRM customer with this address (the oldest, if an import made two)."""
    return await session.scalar(
        select(Customer)
        .where(Customer.email == email.strip().lower(), Customer.erased_at.is_(None))
        .order_by(Customer.id)
        .limit(1)
    )


async def note_contact(
    sessions: async_sessionmaker[AsyncSession],
    channel: str,
    external_user: str,
    *,
    email: str,
    name: str | None,
) -> int:
    """The address a visitor gave for replies. Not proof of who they are: it is kept apart
    from the customer's email (which matches CRM records and incoming mail)."""
    for attempt in range(LINK_ATTEMPTS):
        try:
            async with sessions() as session:
                customer = await session.scalar(
                    select(Customer)
                    .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
                    .where(
                        CustomerIdentity.channel == channel,
                        CustomerIdentity.external_user == external_user,
                    )
                )
                if customer is None:
                    customer = Customer(display_name="", attributes={})
                    session.add(customer)
                    await session.flush()
                    session.add(
                        CustomerIdentity(
                            customer_id=customer.id,
                            channel=channel,
                            external_user=external_user,
                            seen_at=utcnow(),  # on the page, giving the address
                        )
                    )
                customer.attributes = {**(customer.attributes or {}), CONTACT_EMAIL: email}
                if name and not customer.display_name:
                    customer.display_name = name
                await session.commit()
                return customer.id
        except IntegrityError:
            if attempt == LINK_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
