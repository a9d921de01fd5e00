"""index of unanswered inbound messages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNANSWERED = sa.text("handled_at IS NULL AND direction = 'in'")


def upgrade() -> None:
    op.create_index(
        "ix_messages_unanswered",
        "messages",
        ["created_at"],
        postgresql_where=UNANSWERED,
        sqlite_where=UNANSWERED,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unanswered", table_name="messages")
