"""partial indexes over the outbox's pending rows, for the dispatcher's lease

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

The lease takes the oldest due row of each thread, in id order. With a year of sent rows
SQLite walked the whole outbox in id order for it (20 ms a pass at 94,000 rows, a pass per
reply, holding the write lock): the web chat's throughput fell to a third. Pending rows are
few, so both indexes stay small whatever the outbox holds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_thread", "outbox")
    op.drop_index("ix_outbox_pending", "outbox")
