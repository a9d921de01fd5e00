"""when each agent's staff pages last beat, when the agent last touched one, and when they
last acted from Slack

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

Presence was only the agent's own choice: an agent who closed the browser stayed "online"
(after a restart too), and a customer with nobody there was given a queue position and a
wait of minutes. The queue now counts agents whose pages are open and in use.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UtcDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("last_seen_at", UtcDateTime(timezone=True), nullable=True))
    op.add_column("agents", sa.Column("last_active_at", UtcDateTime(timezone=True), nullable=True))
    op.add_column("agents", sa.Column("last_slack_at", UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("agents", "last_slack_at")
    op.drop_column("agents", "last_active_at")
    op.drop_column("agents", "last_seen_at")
