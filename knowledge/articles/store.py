"""Articles in the database, and the search library built from them.

Like the FAQ snapshot (knowledge/service.py): an edit announces `articles_changed` on the
bus, every process drops its library and the next reader rebuilds it (in a thread: embedding
thousands of passages takes a second or two), while readers during a rebuild wait for that
one shared build. A library older than SNAPSHOT_MAX_AGE_S is checked against a cheap
signature of the table (a lost event, an edit behind deskbot's back) and rebuilt if it moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot.bus import EventBus
from bot.events import ArticlesChanged, articles_topic
from bot.nlu.embeddings import SentenceEmbedder, shared
from knowledge.articles.library import ArticleLibrary, LibraryArticle, build_library
from knowledge.articles.passages import split
from knowledge.articles.schema import ArticleInput, ArticlePatch, ArticleView, PassageView
from knowledge.articles.sources import ArticleDraft
from knowledge.errors import KnowledgeError
from models import Article, ArticlePassage, AuditEntry

log = logging.getLogger(__name__)

SNAPSHOT_MAX_AGE_S = 30.0


class ArticleNotFound(KnowledgeError):
    status = 404


class ArticleExists(KnowledgeError):
    status = 409


class ArticleVersionConflict(KnowledgeError):
    status = 409


def _view(row: Article) -> ArticleView:
    return ArticleView(
        id=row.id,
        slug=row.slug,
        language=row.language,
        title=row.title,
        body=row.body,
        url=row.url,
        enabled=row.enabled,
        version=row.version,
        updated_by=row.updated_by,
        updated_at=row.updated_at.isoformat(),
        passages=[PassageView(id=p.id, heading=p.heading, text=p.text) for p in row.passages],
    )


def _set_passages(row: Article) -> None:
    row.passages = [
        ArticlePassage(position=i, heading=p.heading, text=p.text)
        for i, p in enumerate(split(row.body))
    ]


class ArticleStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        embedder: SentenceEmbedder | None = None,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._embedder = embedder
        self._library: ArticleLibrary | None = None
        self._signature: tuple[object, ...] | None = None
        self._checked_at = 0.0
        self._generation = 0
        self._loading = asyncio.Lock()
        self._checking: asyncio.Task[None] | None = None

    # --- the search library ------------------------------------------------------------

    def forget(self) -> None:
        """Articles changed: the next search rebuilds the library."""
        self._generation += 1
        self._library = None

    async def library(self) -> ArticleLibrary:
        library = self._library
        if library is not None:
            if time.monotonic() - self._checked_at >= SNAPSHOT_MAX_AGE_S:
                self._check_in_background()
            return library
        async with self._loading:
            return self._library or await self._build()

    def _check_in_background(self) -> None:
        if self._checking is None or self._checking.done():
            self._checked_at = time.monotonic()
            self._checking = asyncio.create_task(self._check(), name="articles-check")

    async def _check(self) -> None:
        try:
            if await self._table_signature() != self._signature:
                self.forget()
        except Exception:
            log.warning("checking the articles for changes failed", exc_info=True)

    async def _table_signature(self) -> tuple[object, ...]:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(
                        func.count(Article.id),
                        func.max(Article.updated_at),
                        func.sum(Article.version),
                    )
                )
            ).one()
        return tuple(row)

    async def _build(self) -> ArticleLibrary:
        generation = self._generation
        signature = await self._table_signature()
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(Article).where(Article.enabled).options(selectinload(Article.passages))
                )
            ).all()
            articles = [
                LibraryArticle(
                    r.id,
                    r.slug,
                    r.language,
                    r.title,
                    r.url,
                    [(p.id, p.heading, p.text) for p in r.passages],
                )
                for r in rows
            ]
        embedder = self._embedder or shared()
        library = await asyncio.to_thread(build_library, articles, embedder)
        if generation == self._generation:  # no edit landed while we were building
            self._library, self._signature = library, signature
            self._checked_at = time.monotonic()
        return library

    # --- reading -----------------------------------------------------------------------

    async def list(
        self, language: str | None = None, query: str | None = None
    ) -> list[ArticleView]:
        statement = (
            select(Article)
            .options(selectinload(Article.passages))
            .order_by(Article.language, Article.title)
        )
        if language:
            statement = statement.where(Article.language == language)
        if query:
            pattern = f"%{query.lower()}%"
            statement = statement.where(
                or_(
                    func.lower(Article.title).like(pattern),
                    func.lower(Article.slug).like(pattern),
                    func.lower(Article.body).like(pattern),
                )
            )
        async with self._sessions() as session:
            return [_view(r) for r in (await session.scalars(statement)).all()]

    async def get(self, article_id: int) -> ArticleView:
        async with self._sessions() as session:
            return _view(await self._row(session, article_id))

    async def find(self, slug: str, language: str) -> ArticleView | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(Article)
                .options(selectinload(Article.passages))
                .where(Article.slug == slug, Article.language == language)
            )
            return _view(row) if row else None

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(Article.id))) or 0)

    # --- writing -----------------------------------------------------------------------

    async def create(self, data: ArticleInput, actor: str) -> ArticleView:
        async with self._sessions() as session:
            row = Article(**data.model_dump(), updated_by=actor, version=1)
            _set_passages(row)
            session.add(row)
            _audit(session, actor, "create", f"{data.language}/{data.slug}", {"title": data.title})
            try:
                await session.commit()
            except IntegrityError:
                raise ArticleExists(
                    f"an article {data.slug!r} in {data.language!r} already exists"
                ) from None
            article_id = row.id
        await self._changed(article_id, "create")
        return await self.get(article_id)

    async def update(
        self,
        article_id: int,
        patch: ArticlePatch,
        actor: str,
        expected_version: int | None = None,
    ) -> ArticleView:
        changes = patch.model_dump(exclude_unset=True)
        async with self._sessions() as session:
            row = await self._row(session, article_id, for_update=True)
            if expected_version is not None and row.version != expected_version:
                raise ArticleVersionConflict(
                    f"article {article_id} is at version {row.version}, not {expected_version}; "
                    "reload it and apply your change again"
                )
            for key, value in changes.items():
                if value is None and key != "url":
                    continue
                setattr(row, key, value)
            if "body" in changes and changes["body"] is not None:
                _set_passages(row)
            row.version += 1
            row.updated_by = actor
            _audit(session, actor, "update", f"{row.language}/{row.slug}", _brief(changes))
            await session.commit()
        await self._changed(article_id, "update")
        return await self.get(article_id)

    async def delete(self, article_id: int, actor: str) -> None:
        async with self._sessions() as session:
            row = await self._row(session, article_id, for_update=True)
            _audit(session, actor, "delete", f"{row.language}/{row.slug}", {"version": row.version})
            await session.delete(row)
            await session.commit()
        await self._changed(article_id, "delete")

    async def import_drafts(
        self, drafts: Sequence[ArticleDraft], actor: str, replace: bool = False
    ) -> dict[str, int]:
        """Create or update by (id, language) in one transaction; `replace` drops the rest."""
        counts = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}
        keys = {(d.slug, d.language) for d in drafts}
        async with self._sessions() as session:
            existing = {
                (r.slug, r.language): r
                for r in (
                    await session.scalars(select(Article).options(selectinload(Article.passages)))
                ).all()
            }
            for d in drafts:
                row = existing.get((d.slug, d.language))
                if row is None:
                    row = Article(
                        slug=d.slug,
                        language=d.language,
                        title=d.title,
                        body=d.body,
                        url=d.url,
                        enabled=True,
                        version=1,
                        updated_by=actor,
                    )
                    _set_passages(row)
                    session.add(row)
                    counts["created"] += 1
                elif (row.title, row.body, row.url) != (d.title, d.body, d.url):
                    row.title, row.body, row.url = d.title, d.body, d.url
                    _set_passages(row)
                    row.version += 1
                    row.updated_by = actor
                    counts["updated"] += 1
                else:
                    counts["unchanged"] += 1
            if replace:
                for key, row in existing.items():
                    if key not in keys:
                        await session.delete(row)
                        counts["deleted"] += 1
            _audit(session, actor, "import", "*", {**counts, "replace": replace})
            await session.commit()
        if counts["created"] or counts["updated"] or counts["deleted"]:
            await self._changed(0, "import")
        return counts

    async def _row(
        self, session: AsyncSession, article_id: int, for_update: bool = False
    ) -> Article:
        statement = (
            select(Article).options(selectinload(Article.passages)).where(Article.id == article_id)
        )
        if for_update:
            statement = statement.with_for_update()
        row = await session.scalar(statement)
        if row is None:
            raise ArticleNotFound(f"no article {article_id}")
        return row

    async def _changed(self, article_id: int, action: str) -> None:
        self.forget()
        await self._bus.publish(
            articles_topic(), ArticlesChanged(article_id=article_id, action=action)
        )


def _brief(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if k != "body" else f"{len(v or '')} characters") for k, v in changes.items()}


def _audit(
    session: AsyncSession, actor: str, action: str, name: str, details: dict[str, Any]
) -> None:
    session.add(
        AuditEntry(
            actor=actor, action=action, entity="article", entity_id=name[:128], details=details
        )
    )


@contextlib.asynccontextmanager
async def follow_changes(store: ArticleStore, bus: EventBus) -> AsyncIterator[None]:
    """Edits made in any process reach this one's library (the store publishes them)."""

    async def watch() -> None:
        with bus.subscribe(articles_topic()) as changes:
            while True:
                await changes.queue.get()
                store.forget()

    task = asyncio.create_task(watch(), name="articles-follow")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
