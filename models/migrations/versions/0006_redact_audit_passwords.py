"""redact passwords that user changes wrote into the audit trail

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Until this release, setting a password on the Users page stored it in plain text in the
"details" of the audit row. Rewrite those rows to say only that a password was set.
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REDACTED = "(set)"
audit = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("entity", sa.String),
    sa.column("details", sa.JSON),
)


def _redacted(details: dict[str, Any]) -> dict[str, Any]:
    cleaned = {k: v for k, v in details.items() if k not in {"password", "password_hash"}}
    cleaned["password"] = REDACTED
    return cleaned


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(audit.c.id, audit.c.details).where(audit.c.entity == "user")
    )
    for row_id, details in rows.all():
        if isinstance(details, str):  # a JSON column read back without its type
            details = json.loads(details)
        if not isinstance(details, dict):
            continue
        if details.get("password", REDACTED) == REDACTED and "password_hash" not in details:
            continue
        connection.execute(
            sa.update(audit).where(audit.c.id == row_id).values(details=_redacted(details))
        )


def downgrade() -> None:
    """Nothing to restore: the plain passwords are gone for good, as they should be."""
