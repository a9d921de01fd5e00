"""irreversible FAQ intents and the bot's pending question

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("faq_intents") as batch:
        batch.add_column(
            sa.Column("irreversible", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("pending_choice", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("pending_choice")
    with op.batch_alter_table("faq_intents") as batch:
        batch.drop_column("irreversible")
