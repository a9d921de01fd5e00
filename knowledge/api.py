"""The knowledge base's JSON REST API (admin token required)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel

from bot import keys
from bot.api.auth import admin
from bot.api.body import read_model
from bot.api.errors import BadRequest
from bot.api.openapi import ApiSpec
from knowledge.formats import read_csv, read_native_yaml, read_rasa, write_csv, write_native_yaml
from knowledge.schema import IntentData, IntentPatch, IntentView

PREFIX = "/api"


class IntentList(BaseModel):
    intents: list[IntentView]


class ImportRequest(BaseModel):
    format: str = "yaml"
    content: str
    domain: str | None = None
    replace: bool = False


class ImportResult(BaseModel):
    created: int
    updated: int
    deleted: int


def add_knowledge_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "knowledge", PREFIX, auth="adminToken")

    @api(
        "GET",
        "/intents",
        "List or search FAQ intents",
        response=IntentList,
        query=(("q", "string"), ("category", "string")),
    )
    async def list_intents(request: web.Request) -> web.Response:
        admin(request)
        kb = request.config_dict[keys.KNOWLEDGE]
        intents = await kb.list(request.query.get("q"), request.query.get("category"))
        return web.json_response(IntentList(intents=intents).model_dump())

    @api("POST", "/intents", "Create an FAQ intent", body=IntentData, response=IntentView)
    async def create_intent(request: web.Request) -> web.Response:
        actor = admin(request)
        data = await read_model(request, IntentData)
        view = await request.config_dict[keys.KNOWLEDGE].create(data, actor)
        return web.json_response(view.model_dump(), status=201)

    @api("GET", "/intents/{name}", "One FAQ intent", response=IntentView)
    async def get_intent(request: web.Request) -> web.Response:
        admin(request)
        view = await request.config_dict[keys.KNOWLEDGE].get(request.match_info["name"])
        return web.json_response(view.model_dump())

    @api(
        "PATCH",
        "/intents/{name}",
        "Change an FAQ intent (If-Match: version)",
        body=IntentPatch,
        response=IntentView,
    )
    async def update_intent(request: web.Request) -> web.Response:
        actor = admin(request)
        patch = await read_model(request, IntentPatch)
        expected = _if_match(request)
        view = await request.config_dict[keys.KNOWLEDGE].update(
            request.match_info["name"], patch, actor, expected
        )
        return web.json_response(view.model_dump())

    @api("DELETE", "/intents/{name}", "Delete an FAQ intent")
    async def delete_intent(request: web.Request) -> web.Response:
        actor = admin(request)
        await request.config_dict[keys.KNOWLEDGE].delete(request.match_info["name"], actor)
        return web.json_response({"deleted": request.match_info["name"]})

    @api(
        "GET",
        "/kb/export",
        "Export the knowledge base (yaml or csv)",
        query=(("format", "string"),),
    )
    async def export(request: web.Request) -> web.Response:
        admin(request)
        fmt = request.query.get("format", "yaml")
        if fmt not in {"yaml", "csv"}:
            raise BadRequest("format must be 'yaml' or 'csv'")
        intents = await request.config_dict[keys.KNOWLEDGE].intents()
        text = write_csv(intents) if fmt == "csv" else write_native_yaml(intents)
        return web.Response(
            text=text,
            content_type="text/csv" if fmt == "csv" else "application/yaml",
            headers={"Content-Disposition": f'attachment; filename="knowledge-base.{fmt}"'},
        )

    @api(
        "POST",
        "/kb/import",
        "Import intents (yaml, csv or rasa nlu.yml + domain.yml)",
        body=ImportRequest,
        response=ImportResult,
    )
    async def import_kb(request: web.Request) -> web.Response:
        actor = admin(request)
        max_bytes = request.config_dict[keys.SETTINGS].max_import_bytes
        body = await read_model(request, ImportRequest, max_bytes)
        readers = {
            "yaml": lambda: read_native_yaml(body.content, "upload"),
            "csv": lambda: read_csv(body.content, "upload"),
            "rasa": lambda: read_rasa(body.content, body.domain, "upload"),
        }
        if body.format not in readers:
            raise BadRequest(f"format must be one of {sorted(readers)}")
        # Parsing a large upload takes seconds of CPU: off the event loop, which serves chats.
        intents = await asyncio.to_thread(readers[body.format])
        counts = await request.config_dict[keys.KNOWLEDGE].import_intents(
            intents, actor, body.replace
        )
        return web.json_response(counts)


def _if_match(request: web.Request) -> int | None:
    value = request.headers.get("If-Match")
    if value is None:
        return None
    try:
        return int(value.strip('"'))
    except ValueError:
        raise BadRequest("If-Match must be the intent's version number") from None
