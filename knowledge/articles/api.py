"""Articles over HTTP: the admin JSON API, the admin page, and the public help pages the
bot's answers link to."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web
from pydantic import BaseModel

from bot import keys
from bot.accounts.principal import Principal
from bot.api.auth import admin, path_int
from bot.api.body import read_model
from bot.api.errors import BadRequest
from bot.api.openapi import ApiSpec
from bot.nlu.text import detect_language
from bot.web.pages import signed_in
from bot.web.render import render
from knowledge.articles.appkey import ARTICLES
from knowledge.articles.schema import ArticleInput, ArticlePatch, ArticleView
from knowledge.articles.sources import LANGUAGES, read_named
from knowledge.articles.store import ArticleStore

PREFIX = "/api"


class ArticleList(BaseModel):
    articles: list[ArticleView]


class ArticleImport(BaseModel):
    filename: str
    """Its suffix says the format: .md, .html, .txt, .csv or .zip."""
    content_base64: str
    replace: bool = False


class ArticleImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int
    deleted: int


class SearchRequest(BaseModel):
    text: str
    language: str | None = None


class SearchHit(BaseModel):
    article_id: int
    title: str
    heading: str
    text: str
    score: float


class SearchResult(BaseModel):
    language: str
    probability: float
    threshold: float
    answers: bool
    """Whether the bot would answer with the first hit."""
    hits: list[SearchHit]


def _store(request: web.Request) -> ArticleStore:
    return request.config_dict[ARTICLES]


def _article_id(request: web.Request) -> int:
    return path_int(request)  # ASCII digits within the id column's range, as every route


def add_article_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "articles", PREFIX, auth="adminToken")

    @api(
        "GET",
        "/articles",
        "List or search help-centre articles",
        response=ArticleList,
        query=(("q", "string"), ("language", "string")),
    )
    async def list_articles(request: web.Request) -> web.Response:
        admin(request)
        language = request.query.get("language") or None
        if language not in (None, *LANGUAGES):
            raise BadRequest(f"language must be one of {sorted(LANGUAGES)}")
        query = (request.query.get("q") or "").replace("\x00", "")[:200] or None
        found = await _store(request).list(language, query)
        return web.json_response(ArticleList(articles=found).model_dump())

    @api("POST", "/articles", "Create an article", body=ArticleInput, response=ArticleView)
    async def create_article(request: web.Request) -> web.Response:
        actor = admin(request)
        data = await read_model(request, ArticleInput, _import_limit(request))
        view = await _store(request).create(data, actor)
        return web.json_response(view.model_dump(), status=201)

    @api("GET", "/articles/{id}", "One article with its passages", response=ArticleView)
    async def get_article(request: web.Request) -> web.Response:
        admin(request)
        return web.json_response((await _store(request).get(_article_id(request))).model_dump())

    @api(
        "PATCH",
        "/articles/{id}",
        "Change an article (If-Match: version); it is searchable at once in every process",
        body=ArticlePatch,
        response=ArticleView,
    )
    async def update_article(request: web.Request) -> web.Response:
        actor = admin(request)
        patch = await read_model(request, ArticlePatch, _import_limit(request))
        view = await _store(request).update(_article_id(request), patch, actor, _if_match(request))
        return web.json_response(view.model_dump())

    @api("DELETE", "/articles/{id}", "Delete an article")
    async def delete_article(request: web.Request) -> web.Response:
        actor = admin(request)
        article_id = _article_id(request)
        await _store(request).delete(article_id, actor)
        return web.json_response({"deleted": article_id})

    @api(
        "POST",
        "/articles/search",
        "What the bot would find for a question, and whether it would answer",
        body=SearchRequest,
        response=SearchResult,
    )
    async def search_articles(request: web.Request) -> web.Response:
        admin(request)
        body = await read_model(request, SearchRequest)
        if body.language is not None and body.language not in LANGUAGES:
            raise BadRequest(f"language must be one of {sorted(LANGUAGES)}")
        language = body.language or detect_language(body.text)
        lookup = (await _store(request).library()).lookup(body.text[:4000], language)
        result = SearchResult(
            language=language,
            probability=round(lookup.probability, 4),
            threshold=lookup.threshold,
            answers=lookup.answer is not None,
            hits=[
                SearchHit(
                    article_id=h.passage.article_id,
                    title=h.passage.title,
                    heading=h.passage.heading,
                    text=h.passage.text,
                    score=round(h.score, 4),
                )
                for h in lookup.hits
            ],
        )
        return web.json_response(result.model_dump())

    @api(
        "POST",
        "/articles/import",
        "Import articles from a Markdown, HTML, text, CSV or zip file",
        body=ArticleImport,
        response=ArticleImportResult,
    )
    async def import_articles(request: web.Request) -> web.Response:
        actor = admin(request)
        limit = _import_limit(request)
        body = await read_model(request, ArticleImport, limit * 4 // 3 + 1024)
        try:
            data = base64.b64decode(body.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("content_base64 is not valid base64") from None
        drafts = read_named(body.filename, data)
        counts = await _store(request).import_drafts(drafts, actor, body.replace)
        return web.json_response(counts)


def _import_limit(request: web.Request) -> int:
    return int(request.config_dict[keys.SETTINGS].max_import_bytes)


def _if_match(request: web.Request) -> int | None:
    value = request.headers.get("If-Match")
    if value is None:
        return None
    try:
        return int(value.strip('"'))
    except ValueError:
        raise BadRequest("If-Match must be the article's version number") from None


async def _admin_page(request: web.Request, who: Principal) -> web.StreamResponse:
    return render(request, "articles.html", {})


async def _help_page(request: web.Request) -> web.StreamResponse:
    """The public page an answer links to when the article has no URL of its own."""
    language = request.match_info["language"]
    article = await _store(request).find(request.match_info["slug"], language)
    if article is None or not article.enabled:
        return render(
            request,
            "error.html",
            {"title": "Not found", "message": "There is no such help article."},
            status=404,
        )
    return render(request, "help_article.html", {"article": article, "language": language})


def add_article_pages(app: web.Application) -> None:
    app.router.add_get("/admin/articles", signed_in(_admin_page, admin_only=True))
    app.router.add_get("/help/{language:en|zh}/{slug:[\\w/.-]+}", _help_page)
