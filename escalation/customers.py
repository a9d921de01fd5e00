"""The CRM side: customer attributes and tiers imported from a company's own records."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import AuditEntry, Customer

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
