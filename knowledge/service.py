"""The knowledge base as a service: FAQ intents CRUD, answers, training data, audit."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bus import EventBus
from bot.events import KnowledgeChanged, kb_topic
from bot.nlu.local import TrainingExample
from knowledge.errors import IntentExists, IntentNotFound, VersionConflict
from knowledge.schema import IntentData, IntentPatch, IntentView
from models import AuditEntry, FaqIntent

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"


def _view(row: FaqIntent) -> IntentView:
    return IntentView(
        name=row.name,
        category=row.category,
        examples=row.examples,
        answers=row.answers,
        enabled=row.enabled,
        irreversible=row.irreversible,
        version=row.version,
        updated_by=row.updated_by,
    )


SNAPSHOT_MAX_AGE_S = 30.0
"""Edits in any process reach the others over the bus at once; the age bounds staleness if
an event is lost (Redis down) or the table was changed behind deskbot's back."""


def _log_failure(task: asyncio.Task[dict[str, _Faq]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning(
            "knowledge base refresh failed; the old snapshot stays", exc_info=task.exception()
        )


@dataclass(frozen=True)
class _Faq:
    enabled: bool
    category: str
    answers: dict[str, list[str]]
    examples: dict[str, list[str]]
    irreversible: bool = False


class KnowledgeBase:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self._sessions = sessions
        self._bus = bus
        self._snapshot: dict[str, _Faq] | None = None
        self._snapshot_at = 0.0
        self._generation = 0
        self._loading = asyncio.Lock()
        self._refreshing: asyncio.Task[dict[str, _Faq]] | None = None

    def forget_snapshot(self) -> None:
        """The knowledge base changed: the next read loads it again."""
        self._generation += 1
        self._snapshot = None

    async def _faqs(self) -> dict[str, _Faq]:
        """What the bot reads on every message, from memory instead of a query per message.

        An old snapshot is served while one task reloads it (messages never wait for the
        refresh, and a burst of them does not load the table once each); after an edit,
        readers wait for one shared load."""
        snapshot = self._snapshot
        if snapshot is not None:
            if time.monotonic() - self._snapshot_at >= SNAPSHOT_MAX_AGE_S:
                self._refresh_in_background()
            return snapshot
        async with self._loading:
            return self._snapshot or await self._load()

    def _refresh_in_background(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._load(), name="kb-snapshot")
            self._refreshing.add_done_callback(_log_failure)

    async def _load(self) -> dict[str, _Faq]:
        generation = self._generation
        async with self._sessions() as session:
            rows = (await session.scalars(select(FaqIntent))).all()
        fresh = {
            r.name: _Faq(r.enabled, r.category, r.answers, r.examples, r.irreversible) for r in rows
        }
        if generation == self._generation:  # no edit landed while we were reading
            self._snapshot, self._snapshot_at = fresh, time.monotonic()
        return fresh

    async def list(self, query: str | None = None, category: str | None = None) -> list[IntentView]:
        statement = select(FaqIntent).order_by(FaqIntent.name)
        if category:
            statement = statement.where(FaqIntent.category == category)
        if query:
            pattern = f"%{query.lower()}%"
            statement = statement.where(
                or_(
                    func.lower(FaqIntent.name).like(pattern),
                    func.lower(cast(FaqIntent.examples, Text)).like(pattern),
                    func.lower(cast(FaqIntent.answers, Text)).like(pattern),
                )
            )
        async with self._sessions() as session:
            return [_view(row) for row in (await session.scalars(statement)).all()]

    async def intents(self) -> list[IntentData]:
        """The whole knowledge base as files and Rasa see it (no bookkeeping fields)."""
        return [
            IntentData(**view.model_dump(exclude={"version", "updated_by"}))
            for view in await self.list()
        ]

    async def get(self, name: str) -> IntentView:
        async with self._sessions() as session:
            return _view(await self._row(session, name))

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(FaqIntent.id))) or 0)

    async def create(self, data: IntentData, actor: str) -> IntentView:
        async with self._sessions() as session:
            row = FaqIntent(**data.model_dump(), updated_by=actor)
            session.add(row)
            _audit(session, actor, "create", data.name, data.model_dump())
            try:
                await session.commit()
            except IntegrityError:
                raise IntentExists(f"intent {data.name!r} already exists") from None
            view = _view(row)
        await self._changed(data.name, "create")
        return view

    async def update(
        self, name: str, patch: IntentPatch, actor: str, expected_version: int | None = None
    ) -> IntentView:
        changes = patch.model_dump(exclude_none=True)
        async with self._sessions() as session:
            row = await self._row(session, name, for_update=True)
            if expected_version is not None and row.version != expected_version:
                raise VersionConflict(
                    f"intent {name!r} is at version {row.version}, not {expected_version}; "
                    "reload it and apply your change again"
                )
            for key, value in changes.items():
                setattr(row, key, value)
            row.version += 1
            row.updated_by = actor
            _audit(session, actor, "update", name, changes)
            await session.commit()
            view = _view(row)
        await self._changed(name, "update")
        return view

    async def delete(self, name: str, actor: str) -> None:
        async with self._sessions() as session:
            row = await self._row(session, name, for_update=True)
            _audit(session, actor, "delete", name, {"version": row.version})
            await session.delete(row)
            await session.commit()
        await self._changed(name, "delete")

    async def import_intents(
        self, intents: Sequence[IntentData], actor: str, replace: bool = False
    ) -> dict[str, int]:
        """Create or overwrite the given intents in one transaction; `replace` drops the rest."""
        counts = {"created": 0, "updated": 0, "deleted": 0}
        names = {i.name for i in intents}
        async with self._sessions() as session:
            existing = {r.name: r for r in (await session.scalars(select(FaqIntent))).all()}
            for data in intents:
                row = existing.get(data.name)
                if row is None:
                    session.add(FaqIntent(**data.model_dump(), updated_by=actor))
                    counts["created"] += 1
                elif _view(row).model_dump(exclude={"version", "updated_by"}) != data.model_dump():
                    for key, value in data.model_dump().items():
                        setattr(row, key, value)
                    row.version += 1
                    row.updated_by = actor
                    counts["updated"] += 1
            if replace:
                for name, row in existing.items():
                    if name not in names:
                        await session.delete(row)
                        counts["deleted"] += 1
            _audit(session, actor, "import", "*", {**counts, "replace": replace})
            await session.commit()
        if any(counts.values()):
            await self._changed("*", "import")
        return counts

    async def training_examples(self) -> list[TrainingExample]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(FaqIntent).where(FaqIntent.enabled))).all()
        return [
            TrainingExample(text, row.name)
            for row in rows
            for texts in row.examples.values()
            for text in texts
        ]

    async def answer(
        self, intent: str, language: str, rng: random.Random | None = None
    ) -> str | None:
        """One of the intent's answers in `language` (English, then any, when missing)."""
        faq = (await self._faqs()).get(intent)
        if faq is None or not faq.enabled:
            return None
        answers = faq.answers.get(language) or faq.answers.get(DEFAULT_LANGUAGE)
        if not answers:
            answers = next(iter(faq.answers.values()), [])
        if not answers:
            return None
        return (rng or random).choice(answers)

    async def categories(self, intents: set[str]) -> dict[str, str]:
        faqs = await self._faqs() if intents else {}
        return {name: faqs[name].category for name in intents if name in faqs}

    async def irreversible(self, intent: str) -> bool:
        faq = (await self._faqs()).get(intent)
        return faq is not None and faq.irreversible

    async def sample_questions(self, language: str, limit: int) -> list[str]:
        """One question from each of the first `limit` categories: what the bot can help with."""
        seen: dict[str, str] = {}
        for _, faq in sorted((await self._faqs()).items()):
            if not faq.enabled or faq.category in seen or faq.category == "general":
                continue
            examples = faq.examples.get(language) or faq.examples.get(DEFAULT_LANGUAGE) or []
            if examples:
                seen[faq.category] = examples[0]
        return list(seen.values())[:limit]

    async def sample_question(self, intent: str, language: str) -> str | None:
        """The intent's first example in `language`: how the bot names it when it asks back.
        None for a disabled intent (a model trained before it was disabled may still rank it)."""
        faq = (await self._faqs()).get(intent)
        if faq is None or not faq.enabled:
            return None
        examples = faq.examples.get(language) or faq.examples.get(DEFAULT_LANGUAGE) or []
        return examples[0] if examples else None

    async def _row(self, session: AsyncSession, name: str, for_update: bool = False) -> FaqIntent:
        statement = select(FaqIntent).where(FaqIntent.name == name)
        if for_update:
            statement = statement.with_for_update()
        row = await session.scalar(statement)
        if row is None:
            raise IntentNotFound(f"no intent named {name!r}")
        return row

    async def _changed(self, intent: str, action: str) -> None:
        self.forget_snapshot()
        await self._bus.publish(kb_topic(), KnowledgeChanged(intent=intent, action=action))


def _audit(
    session: AsyncSession, actor: str, action: str, name: str, details: dict[str, Any]
) -> None:
    session.add(
        AuditEntry(actor=actor, action=action, entity="faq_intent", entity_id=name, details=details)
    )
