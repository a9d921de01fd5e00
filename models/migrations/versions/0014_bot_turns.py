"""a count of the bot's committed turns on each conversation, for its compare-and-set

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

Two messages of one conversation answered at once (a double-tapped "2", two quick misses)
each read the conversation and each wrote its turn: the pending choice was answered twice
and one miss was lost. A turn now commits only if the count is still the one it read.
Added without SQLite's batch mode: rebuilding `conversations` would drop its triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("bot_turns", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("conversations", "bot_turns")
