"""The application key under which the aiohttp app holds the article store."""

from __future__ import annotations

from aiohttp import web

from knowledge.articles.store import ArticleStore

ARTICLES = web.AppKey("articles", ArticleStore)
