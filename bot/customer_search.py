"""Finding a customer by part of their name or email, or by id, without reading them all.

Three characters or more are looked up in an index (pg_trgm on PostgreSQL, an FTS5 trigram
table on SQLite; migration 0012). Shorter text cannot use a trigram, so it is matched among
the newest SHORT_QUERY_WINDOW customers only: bounded work, and the page says so.
"""

from __future__ import annotations

from sqlalchemy import Integer, Select, column, func, or_, select, table, text
from sqlalchemy.sql.elements import ColumnElement

from models import Customer

MIN_INDEXED = 3
SHORT_QUERY_WINDOW = 5_000
MAX_ID = 2**31 - 1  # customers.id is a 32-bit INTEGER
FTS = table("customers_fts", column("rowid", Integer))


def search_statement(query: str, dialect: str, limit: int) -> Select[tuple[Customer]]:
    statement = select(Customer).order_by(Customer.id.desc()).limit(limit)
    if not query:
        return statement
    matches: list[ColumnElement[bool]] = []
    if query.isascii() and query.isdigit() and int(query) <= MAX_ID:
        matches.append(Customer.id == int(query))
    if len(query) >= MIN_INDEXED:
        matches.append(_indexed(query, dialect))
    else:
        newest = select(func.max(Customer.id)).scalar_subquery()
        matches.append((Customer.id > newest - SHORT_QUERY_WINDOW) & _substring(query, dialect))
    return statement.where(or_(*matches))


def _indexed(query: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "sqlite":
        phrase = '"' + query.replace('"', '""') + '"'
        matching = text("customers_fts MATCH :phrase").bindparams(phrase=phrase)
        return Customer.id.in_(select(FTS.c.rowid).where(matching))
    return _substring(query, dialect)


def _substring(query: str, dialect: str) -> ColumnElement[bool]:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(
        Customer.display_name.ilike(pattern, escape="\\"),
        Customer.email.ilike(pattern, escape="\\"),
    )
