"""Row ids as clients send them: bounded at the edge, so an id no row can have (1e20 overflows
SQLite's 64-bit integer, 3000000000 PostgreSQL's int4) is a clear 404/400, never a 500."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ID = 2**31 - 1
"""The largest id any table can hold (PostgreSQL `integer`), on every database alike."""

RowId = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
"""An id in a request body: a JSON integer in range (not 1e20, not "7", not true)."""


def parse_id(raw: object) -> int | None:
    """An id from a path, a query or a socket frame, or None when it is none a row can have.
    Strings must be plain digits; numbers must be integers (a float such as 1e20 is not)."""
    if isinstance(raw, str):
        if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_ID)):
            return None
        value = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        return None
    return value if 1 <= value <= MAX_ID else None
