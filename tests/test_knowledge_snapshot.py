"""The knowledge base the bot reads from memory: one load for a burst of readers, and a stale
copy served while it is reloaded, so no message waits for the table."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, update

from bot.services import Services
from models import FaqIntent
from tests.test_engine import wait_for

NEW_ANSWER = "Our new reset flow: Settings, then Security."


async def test_a_burst_of_readers_loads_the_table_once_and_a_stale_copy_is_refreshed_behind(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    knowledge = services.knowledge
    loads: list[str] = []

    def count_loads(_conn, _cursor, statement: str, *_args: object) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "FROM faq_intents" in statement:
            loads.append(statement)

    event.listen(services.db.sync_engine, "before_cursor_execute", count_loads)
    knowledge.forget_snapshot()
    answers = await asyncio.gather(*(knowledge.answer("reset_password", "en") for _ in range(20)))
    assert len(loads) == 1
    old = answers[0]
    assert old and all(a == old for a in answers)

    async with services.sessions() as session:  # edited behind deskbot's back: no bus event
        await session.execute(
            update(FaqIntent)
            .where(FaqIntent.name == "reset_password")
            .values(answers={"en": [NEW_ANSWER]})
        )
        await session.commit()
    monkeypatch.setattr("knowledge.service.SNAPSHOT_MAX_AGE_S", 0.1)
    await asyncio.sleep(0.15)
    stale = await asyncio.gather(*(knowledge.answer("reset_password", "en") for _ in range(10)))
    assert stale == [old] * 10  # served at once, while one reload runs

    async def refreshed() -> bool:
        return await knowledge.answer("reset_password", "en") == NEW_ANSWER

    await wait_for(refreshed)
    assert len(loads) >= 2
    event.remove(services.db.sync_engine, "before_cursor_execute", count_loads)
