"""Content gaps over HTTP: the admin JSON API and the admin page."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, Field, StringConstraints

from bot.accounts.principal import Principal
from bot.api.auth import admin
from bot.api.body import read_model
from bot.api.errors import BadRequest
from bot.api.openapi import ApiSpec
from bot.web.pages import signed_in
from bot.web.render import render
from knowledge.gaps.appkey import GAPS
from knowledge.schema import INTENT_NAME, IntentView

MessageIds = Annotated[list[int], Field(min_length=1, max_length=500)]


class GapOut(BaseModel):
    key: int
    name: str
    language: str
    size: int
    last_seen: str
    examples: list[str]
    suggested_answer: str | None
    suggested_intent: str | None
    reasons: dict[str, int]
    message_ids: list[int]


class WeekOut(BaseModel):
    week: str
    questions: int
    in_gaps: int
    share: float


class GapsOut(BaseModel):
    clusters: list[GapOut]
    weekly: list[WeekOut]


class NewIntent(BaseModel):
    message_ids: MessageIds
    name: Annotated[str, StringConstraints(pattern=INTENT_NAME)]
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class MoreExamples(BaseModel):
    message_ids: MessageIds
    intent: Annotated[str, StringConstraints(pattern=INTENT_NAME)]


def _days(request: web.Request) -> int:
    try:
        days = int(request.query.get("days", "90"))
    except ValueError:
        raise BadRequest("days must be a whole number") from None
    if not 1 <= days <= 3650:
        raise BadRequest("days must be between 1 and 3650")
    return days


def add_gap_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "gaps", "/api", auth="adminToken")

    @api(
        "GET",
        "/gaps",
        "Suggested intents from unanswered questions, by size and recency; weekly gap share",
        response=GapsOut,
        query=(("days", "integer"),),
    )
    async def list_gaps(request: web.Request) -> web.Response:
        admin(request)
        finder = request.config_dict[GAPS]
        days = _days(request)
        clusters = [c.to_json() for c in await finder.clusters(days)]
        weekly = await finder.weekly_share(max(1, days // 7))
        return web.json_response({"clusters": clusters, "weekly": weekly})

    @api(
        "POST",
        "/gaps/intent",
        "Create an FAQ intent from a gap's questions (the model retrains live)",
        body=NewIntent,
        response=IntentView,
    )
    async def create_intent(request: web.Request) -> web.Response:
        actor = admin(request)
        body = await read_model(request, NewIntent)
        view = await request.config_dict[GAPS].create_intent(
            body.message_ids, body.name, body.answer, actor
        )
        return web.json_response(view.model_dump(), status=201)

    @api(
        "POST",
        "/gaps/examples",
        "Add a gap's questions to an existing intent as examples",
        body=MoreExamples,
        response=IntentView,
    )
    async def add_examples(request: web.Request) -> web.Response:
        actor = admin(request)
        body = await read_model(request, MoreExamples)
        view = await request.config_dict[GAPS].add_to_intent(body.message_ids, body.intent, actor)
        return web.json_response(view.model_dump())


async def _page(request: web.Request, who: Principal) -> web.StreamResponse:
    return render(request, "gaps.html", {})


def add_gap_pages(app: web.Application) -> None:
    app.router.add_get("/admin/gaps", signed_in(_page, admin_only=True))
