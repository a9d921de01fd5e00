"""indexes the hot paths need once a year of conversations has accumulated

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Each one serves a statement that scanned its table (tests/test_query_plans.py finds them):
- conversations (customer_id, id): the live churn counts on every inbound message, the
  console's customer panel, erasure;
- conversations (created_at): reports over a period;
- customer_identities (customer_id, channel): every agent reply, hand-back and catch-up;
- messages (created_at): content gaps, article figures and top intents over a period;
- messages (created_at) where the bot did not understand: the report's top fallbacks.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FALLBACKS = sa.text("intent = 'nlu_fallback' AND direction = 'in'")


def upgrade() -> None:
    op.create_index("ix_conversations_customer", "conversations", ["customer_id", "id"])
    op.create_index("ix_conversations_created", "conversations", ["created_at"])
    op.create_index(
        "ix_customer_identities_customer", "customer_identities", ["customer_id", "channel"]
    )
    op.create_index("ix_messages_created", "messages", ["created_at"])
    op.create_index(
        "ix_messages_fallbacks",
        "messages",
        ["created_at"],
        postgresql_where=FALLBACKS,
        sqlite_where=FALLBACKS,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_fallbacks", "messages")
    op.drop_index("ix_messages_created", "messages")
    op.drop_index("ix_customer_identities_customer", "customer_identities")
    op.drop_index("ix_conversations_created", "conversations")
    op.drop_index("ix_conversations_customer", "conversations")
