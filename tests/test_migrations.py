"""The Alembic migrations build exactly the schema the models declare, and step back down."""

from __future__ import annotations

from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.database import downgrade, make_engine, upgrade
from bot.settings import Settings
from models.base import Base


async def test_migrations_match_the_models_and_go_down_and_up_again(
    make_settings: Callable[..., Settings],
) -> None:
    engine = make_engine(make_settings().sqlalchemy_url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            drift = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
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
