"""Which statements the app sends, and whether PostgreSQL would scan a big table for one.

`StatementLog` records every statement an engine runs (with its parameters); `pg_scans` asks
PostgreSQL for each one's plan, made with
sequential scans priced out (`enable_seqscan = off`): on a test-sized table a scan can be the
cheaper plan, but if one is still chosen no index can serve the statement, which is what
fails at a year's size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

BIG_TABLES = frozenset(
    {
        "conversations",
        "messages",
        "customers",
        "customer_identities",
        "outbox",
        "daily_message_counts",
    }
)
PLANNED = re.compile(r"^\s*(SELECT|UPDATE|DELETE|WITH|INSERT\b.*\bSELECT\b)", re.I | re.S)


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: tuple[Any, ...] | dict[str, Any]


@dataclass(frozen=True)
class Scan:
    table: str
    sql: str

    def __str__(self) -> str:
        flat = " ".join(self.sql.split())
        start = flat.find(" FROM ")
        return f"full scan of {self.table}: {flat[:60]}…{flat[start : start + 400]}"


class StatementLog:
    def __init__(self) -> None:
        self.statements: list[Statement] = []

    def planned(self) -> list[Statement]:
        """The statements whose plan can scan (no plain INSERT), each text once."""
        seen: dict[str, Statement] = {}
        for s in self.statements:
            if PLANNED.match(s.sql) and not s.sql.lstrip().upper().startswith("SELECT PG_"):
                seen.setdefault(s.sql, s)
        return list(seen.values())


@contextmanager
def recording(engine: AsyncEngine) -> Iterator[StatementLog]:
    log = StatementLog()

    def record(_conn, _cursor, sql, parameters, _context, executemany):  # type: ignore[no-untyped-def]
        first = parameters[0] if executemany and parameters else parameters
        log.statements.append(Statement(sql, first if first is not None else ()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def pg_scans(dsn: str, statements: list[Statement]) -> list[Scan]:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SET enable_seqscan = off")
        scans: list[Scan] = []
        for s in statements:
            raw = await connection.fetchval(
                f"EXPLAIN (FORMAT JSON) {s.sql}", *_positional(s.parameters)
            )
            plan = json.loads(raw)[0]["Plan"]
            scans += [Scan(t, s.sql) for t in sorted(_pg_scanned(plan))]
        return scans
    finally:
        await connection.close()


def _positional(parameters: tuple[Any, ...] | dict[str, Any]) -> tuple[Any, ...]:
    if isinstance(parameters, dict):
        raise TypeError("asyncpg statements carry positional parameters")
    return tuple(parameters)


def _pg_scanned(plan: dict[str, Any]) -> set[str]:
    found = set()
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in BIG_TABLES:
        found.add(plan["Relation Name"])
    for child in plan.get("Plans", ()):
        found |= _pg_scanned(child)
    return found
