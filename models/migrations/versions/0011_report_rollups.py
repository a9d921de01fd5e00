"""daily rollups for long reports: message counts (top intents, top fallbacks) and
conversation tallies, with a trigger that marks a tallied day stale when one of its
conversations changes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Empty at first: the running service rolls up every finished day on start and hourly after
(bot/report_rollup.py); until then reports count those days live. The triggers fire only for
conversations older than five days (bot.report_rollup.SETTLED_DAYS - 2: younger days are not
tallied yet, and a day's margin covers the application's and the database's clocks). A later
migration that rebuilds `conversations` in SQLite batch mode must create the triggers again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COUNTS = (
    "conversations",
    "escalated",
    "first_response_sum",
    "first_response_n",
    "handling_sum",
    "handling_n",
    "resolution_sum",
    "resolution_n",
    "sla_met",
    "sla_due",
    "csat_good",
    "csat_rated",
)
TALLIED = "escalated_at, first_human_response_at, resolved_at, csat, first_response_due_at, channel"
PG_TRIGGERS = (
    "CREATE FUNCTION mark_conversation_day_stale() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO stale_conversation_days (day) "
    "VALUES (to_char(timezone('UTC', OLD.created_at), 'YYYY-MM-DD')); RETURN NULL; END $$",
    f"CREATE TRIGGER conversations_stale_on_update AFTER UPDATE OF {TALLIED} ON conversations "
    "FOR EACH ROW WHEN (OLD.created_at < now() - interval '5 days') "
    "EXECUTE FUNCTION mark_conversation_day_stale()",
    "CREATE TRIGGER conversations_stale_on_delete AFTER DELETE ON conversations "
    "FOR EACH ROW WHEN (OLD.created_at < now() - interval '5 days') "
    "EXECUTE FUNCTION mark_conversation_day_stale()",
)
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER conversations_stale_on_update AFTER UPDATE OF {TALLIED} ON conversations "
    "WHEN OLD.created_at < datetime('now', '-5 days') BEGIN "
    "INSERT INTO stale_conversation_days (day) VALUES (date(OLD.created_at)); END",
    "CREATE TRIGGER conversations_stale_on_delete AFTER DELETE ON conversations "
    "WHEN OLD.created_at < datetime('now', '-5 days') BEGIN "
    "INSERT INTO stale_conversation_days (day) VALUES (date(OLD.created_at)); END",
)


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

    op.create_table(
        "rolled_up_conversation_days",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("rolled_at", models.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_rolled_up_conversation_days"),
    )
    op.create_table(
        "stale_conversation_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stale_conversation_days"),
    )
    op.create_index("ix_stale_conversation_days_day", "stale_conversation_days", ["day"])
    op.create_table(
        "daily_conversation_tallies",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS[:2]),
        *(
            sa.Column(name, sa.Float() if name.endswith("_sum") else sa.Integer(), nullable=False)
            for name in COUNTS[2:]
        ),
        sa.PrimaryKeyConstraint("day", "channel", name="pk_daily_conversation_tallies"),
    )
    statements = SQLITE_TRIGGERS if op.get_bind().dialect.name == "sqlite" else PG_TRIGGERS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS conversations_stale_on_update")
        op.execute("DROP TRIGGER IF EXISTS conversations_stale_on_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS conversations_stale_on_update ON conversations")
        op.execute("DROP TRIGGER IF EXISTS conversations_stale_on_delete ON conversations")
        op.execute("DROP FUNCTION IF EXISTS mark_conversation_day_stale()")
    op.drop_table("daily_conversation_tallies")
    op.drop_index("ix_stale_conversation_days_day", "stale_conversation_days")
    op.drop_table("stale_conversation_days")
    op.drop_table("rolled_up_conversation_days")
    op.drop_index("ix_daily_message_counts_day", "daily_message_counts")
    op.drop_table("daily_message_counts")
    op.drop_table("rolled_up_days")
