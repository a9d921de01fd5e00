"""daily rollup of the message counts reports rank (top intents, top fallbacks)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Empty at first: the running service rolls up every finished day on start and hourly after
(bot/report_rollup.py); until then reports count those days from the messages.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rolled_up_days",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("rolled_at", models.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_rolled_up_days"),
    )
    op.create_table(
        "daily_message_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_daily_message_counts"),
    )
    op.create_index("ix_daily_message_counts_day", "daily_message_counts", ["kind", "day"])


def downgrade() -> None:
    op.drop_index("ix_daily_message_counts_day", "daily_message_counts")
    op.drop_table("daily_message_counts")
    op.drop_table("rolled_up_days")
