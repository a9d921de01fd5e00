"""The data directory holds password hashes, customers' messages and secrets: only the user
deskbot runs as may read it. Files are created with their final mode (os.open with a mode),
never written first and restricted after, so no other user can open one in between."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create `path` (0700) if missing; tighten it if an older deskbot left it readable."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def create_private_file(path: Path, text: str) -> bool:
    """Write a new 0600 file; False (and nothing written, but its mode tightened) if it
    already exists."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE)
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


def private_sqlite_file(database: Path) -> None:
    """Create the SQLite file 0600 before SQLite opens it: SQLite gives its -wal and -shm
    files the database file's mode, so they are private too."""
    private_dir(database.parent)
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for path in [database, *(database.with_name(database.name + s) for s in SQLITE_COMPANIONS)]:
        if path.exists():
            _tighten(path, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        log.warning(
            "restricting permissions left by an older deskbot",
            extra={"path": str(path), "was": oct(current), "now": oct(mode)},
        )
        path.chmod(mode)
