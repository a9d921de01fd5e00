"""Values admins override at runtime: one JSON row per key in runtime_settings, audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import AuditEntry, RuntimeSetting


async def read_overrides(sessions: async_sessionmaker[AsyncSession], key: str) -> dict[str, Any]:
    async with sessions() as session:
        row = await session.get(RuntimeSetting, key)
    return dict(row.value) if row else {}


async def write_overrides(
    sessions: async_sessionmaker[AsyncSession],
    key: str,
    values: dict[str, Any],
    actor: str,
    check: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Merge `values` into the stored overrides; `check` raises ValueError to refuse the result."""
    async with sessions() as session:
        row = await session.get(RuntimeSetting, key, with_for_update=True)
        if row is None:
            row = RuntimeSetting(key=key, value={}, updated_by=actor)
            session.add(row)
        merged = {**row.value, **values}
        check(merged)
        row.value = merged
        row.updated_by = actor
        session.add(
            AuditEntry(actor=actor, action="update", entity=key, entity_id=key, details=values)
        )
        await session.commit()
    return merged
