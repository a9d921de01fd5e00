"""customer search that stays fast with hundreds of thousands of customers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

PostgreSQL: trigram (pg_trgm) GIN indexes serve the substring ILIKE on name and email. The
extension ships with PostgreSQL; where the database user may not create it, the upgrade goes
on without the indexes and search scans, as before.
SQLite: an FTS5 trigram table over name and email, kept current by triggers (a later
migration that rebuilds `customers` in batch mode must create the triggers again).
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = (
    "CREATE VIRTUAL TABLE customers_fts USING fts5("
    "display_name, email, content='customers', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER customers_fts_insert AFTER INSERT ON customers BEGIN "
    "INSERT INTO customers_fts(rowid, display_name, email) "
    "VALUES (new.id, new.display_name, new.email); END",
    "CREATE TRIGGER customers_fts_delete AFTER DELETE ON customers BEGIN "
    "INSERT INTO customers_fts(customers_fts, rowid, display_name, email) "
    "VALUES ('delete', old.id, old.display_name, old.email); END",
    "CREATE TRIGGER customers_fts_update AFTER UPDATE OF display_name, email ON customers BEGIN "
    "INSERT INTO customers_fts(customers_fts, rowid, display_name, email) "
    "VALUES ('delete', old.id, old.display_name, old.email); "
    "INSERT INTO customers_fts(rowid, display_name, email) "
    "VALUES (new.id, new.display_name, new.email); END",
    "INSERT INTO customers_fts(customers_fts) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS customers_fts_update",
    "DROP TRIGGER IF EXISTS customers_fts_delete",
    "DROP TRIGGER IF EXISTS customers_fts_insert",
    "DROP TABLE IF EXISTS customers_fts",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
        return
    if not _trigrams_available(bind):
        return
    for name, column in (
        ("ix_customers_name_trgm", "display_name"),
        ("ix_customers_email_trgm", "email"),
    ):
        op.execute(f"CREATE INDEX {name} ON customers USING gin ({column} gin_trgm_ops)")


def _trigrams_available(bind: sa.Connection) -> bool:
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        logging.getLogger("alembic").warning("pg_trgm unavailable: customer search will scan")
        return False
    return True


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
        return
    op.execute("DROP INDEX IF EXISTS ix_customers_email_trgm")
    op.execute("DROP INDEX IF EXISTS ix_customers_name_trgm")
