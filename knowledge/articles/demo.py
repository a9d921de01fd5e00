"""The demo help centre shipped with deskbot: Acme Cloud's articles, English and Chinese."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from knowledge.articles.sources import ArticleDraft, read_path
from knowledge.articles.store import ArticleStore

log = logging.getLogger(__name__)


def demo_articles() -> list[ArticleDraft]:
    folder = Path(str(resources.files("knowledge").joinpath("demo/articles")))
    return read_path(folder)


async def load_demo_articles(store: ArticleStore) -> None:
    """Into an empty article table only, like the demo knowledge base."""
    if await store.count() == 0:
        counts = await store.import_drafts(demo_articles(), actor="demo-loader")
        log.info("demo help centre loaded", extra={"articles_import": counts})
