"""NLU endpoints: parse a sentence with the live model, retrain, model status."""

from __future__ import annotations

import asyncio
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from bot import keys
from bot.api.auth import admin
from bot.api.body import read_model
from bot.api.openapi import ApiSpec

PREFIX = "/api"


class ParseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class RankedIntent(BaseModel):
    name: str
    confidence: float


class ParseResponse(BaseModel):
    intent: str
    confidence: float
    outcome: str
    ranking: list[RankedIntent]
    engine: str
    model_version: str


class ModelStatus(BaseModel):
    engine: str
    ready: bool
    model_version: str | None
    last_train_seconds: float | None
    training: bool = False
    changed: bool | None = None


def add_nlu_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "nlu", PREFIX, auth="adminToken")

    @api(
        "POST",
        "/nlu/parse",
        "Parse a sentence with the live model",
        body=ParseRequest,
        response=ParseResponse,
    )
    async def parse(request: web.Request) -> web.Response:
        admin(request)
        body = await read_model(request, ParseRequest)
        result = await request.config_dict[keys.NLU].parse_async(body.text)
        response = ParseResponse(
            intent=result.intent,
            confidence=result.confidence,
            outcome=result.outcome.value,
            ranking=[RankedIntent(name=s.name, confidence=s.confidence) for s in result.ranking],
            engine=result.engine,
            model_version=result.model_version,
        )
        return web.json_response(response.model_dump())

    @api(
        "POST",
        "/nlu/train",
        "Retrain from the knowledge base now (no-op if unchanged); ?background=true returns "
        "202 at once and GET /nlu/status shows progress",
        response=ModelStatus,
        query=(("background", "boolean"),),
    )
    async def train(request: web.Request) -> web.Response:
        admin(request)
        nlu = request.config_dict[keys.NLU]
        if request.query.get("background") in {"1", "true"}:
            request.config_dict[keys.TASKS].start(nlu.sync(), "nlu-train")
            await asyncio.sleep(0)  # let the job take the training lock before we report
            return web.json_response(_status(request).model_dump(), status=202)
        changed = await nlu.sync()
        return web.json_response(_status(request, changed).model_dump())

    @api("GET", "/nlu/status", "The live model", response=ModelStatus)
    async def status(request: web.Request) -> web.Response:
        admin(request)
        return web.json_response(_status(request).model_dump())


def _status(request: web.Request, changed: bool | None = None) -> ModelStatus:
    nlu = request.config_dict[keys.NLU]
    return ModelStatus(
        engine=request.config_dict[keys.SETTINGS].nlu_engine,
        ready=nlu.ready,
        model_version=nlu.version,
        last_train_seconds=nlu.last_train_seconds,
        training=nlu.training,
        changed=changed,
    )
