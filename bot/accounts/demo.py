"""First run: a demo admin and agent with generated passwords, so a person can sign in at once."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from bot.accounts.users import Users
from models import AgentRole

LOGINS_FILE = "demo-logins.txt"
ALL_TEAMS = ("support", "billing", "trust")


async def ensure_demo_logins(users: Users, data_dir: Path) -> Path | None:
    """Create the two demo users when nobody can sign in yet; their logins go to a 0600 file."""
    if await users.count_with_password() > 0:
        return None
    lines = []
    for email, name, role in (
        ("admin@example.com", "Demo Admin", AgentRole.ADMIN),
        ("agent@example.com", "Demo Agent", AgentRole.AGENT),
    ):
        password = secrets.token_urlsafe(12)
        await users.add(email, name, role, password, actor="demo-setup", teams=ALL_TEAMS)
        lines.append(f"{role.value:<6} {email}  password: {password}")
    path = data_dir / LOGINS_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
