"""when automatic assignment last gave each agent a chat

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

Teams can have waiting chats assigned to an online agent with room, least loaded or in turn;
the turn goes by this time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UtcDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "agents", sa.Column("last_assigned_at", UtcDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("agents", "last_assigned_at")
