"""Telling a fault that is not the message's (retry it later) from one that is (set it aside)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


def is_temporary(exc: BaseException) -> bool:
    """The database or the network failed, not the message: the same message may work later.
    Anything else a message caused would fail the same way on every retry."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
