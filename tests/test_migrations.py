"""The Alembic migrations build exactly the schema the models declare, and step back down."""

from __future__ import annotations

import json
from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.database import downgrade, make_engine, upgrade
from bot.settings import Settings
from models.base import Base
from models.customer import is_search_object


def _not_search(name: str | None, kind: str, parent: dict[str, str | None]) -> bool:
    return not is_search_object(name)


async def test_migrations_match_the_models_and_go_down_and_up_again(
    make_settings: Callable[..., Settings],
) -> None:
    engine = make_engine(make_settings().sqlalchemy_url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            drift = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_name": _not_search}),
                    Base.metadata,
                )
            )
            indexes = await connection.run_sync(
                lambda sync: {i["name"] for i in inspect(sync).get_indexes("messages")}
            )
        assert drift == []
        assert "ix_messages_unanswered" in indexes
        await downgrade(engine, "0004")
        await downgrade(engine, "base")
        await upgrade(engine)
        await downgrade(engine, "0004")
        async with engine.connect() as connection:
            indexes = await connection.run_sync(
                lambda sync: {i["name"] for i in inspect(sync).get_indexes("messages")}
            )
        assert "ix_messages_unanswered" not in indexes
    finally:
        await engine.dispose()


async def test_migration_0006_redacts_passwords_in_the_audit_trail(
    make_settings: Callable[..., Settings],
) -> None:
    """Rows written by the old Users.update held the plain password next to "(set)"."""
    engine = make_engine(make_settings().sqlalchemy_url)
    leaked = {"password": "hunter2-plain-text", "password_hash": "(set)", "role": "agent"}
    try:
        await upgrade(engine, "0005")
        async with engine.begin() as connection:
            for action, details in [
                ("user_changed", leaked),
                ("user_changed", {"active": False}),
                ("user_changed", {"password": "(set)"}),
                ("intent_changed", {"password": "an FAQ answer about passwords"}),
            ]:
                await connection.execute(
                    text(
                        "INSERT INTO audit_log (actor, action, entity, entity_id, details,"
                        " created_at) VALUES ('admin', :action, :entity, 'x', :details,"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {
                        "action": action,
                        "entity": "intent" if action.startswith("intent") else "user",
                        "details": json.dumps(details),
                    },
                )
        await upgrade(engine)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(text("SELECT details FROM audit_log ORDER BY id"))
            ).all()
        details = [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]
        assert details == [
            {"role": "agent", "password": "(set)"},
            {"active": False},
            {"password": "(set)"},
            {"password": "an FAQ answer about passwords"},
        ]
        await downgrade(engine, "0005")
    finally:
        await engine.dispose()
