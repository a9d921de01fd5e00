"""an index on customers' email addresses; when a web-chat visitor was last connected

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

A signed-in web-chat visitor and a first email from an address are matched to the CRM
customer by address, on the path of a customer's message: without the index that was a scan
of every customer. A visitor who left the page gets an agent's reply by email too: their
open widget beats into customer_identities.seen_at, and the reply has a second outbox row,
for the email channel: the outbox holds one delivery per message and channel.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UtcDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index("ix_customers_email", "customers", ["email"])
    op.add_column(
        "customer_identities", sa.Column("seen_at", UtcDateTime(timezone=True), nullable=True)
    )
    _rebuild_outbox_unique(
        "uq_outbox_message_id", "uq_outbox_message_channel", ["message_id", "channel"]
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM outbox WHERE EXISTS (SELECT 1 FROM outbox AS first "
        "WHERE first.message_id = outbox.message_id AND first.id < outbox.id)"
    )
    _rebuild_outbox_unique("uq_outbox_message_channel", "uq_outbox_message_id", ["message_id"])
    op.drop_column("customer_identities", "seen_at")
    op.drop_index("ix_customers_email", table_name="customers")


def _rebuild_outbox_unique(old: str, new: str, columns: list[str]) -> None:
    """SQLite rebuilds the table for this, and a rebuild keeps no partial index: the
    dispatcher's pending indexes (0013) are made again after it."""
    op.drop_index("ix_outbox_pending_thread", "outbox")
    op.drop_index("ix_outbox_pending", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(old, type_="unique")
        batch.create_unique_constraint(new, columns)
    op.create_index(
        "ix_outbox_pending", "outbox", ["id"], postgresql_where=PENDING, sqlite_where=PENDING
    )
    op.create_index(
        "ix_outbox_pending_thread",
        "outbox",
        ["channel", "external_thread", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
