"""The aiohttp application factory: init_app(settings) -> web.Application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot import keys
from bot.api.agent_routes import add_agent_routes
from bot.api.conversation_routes import add_conversation_routes
from bot.api.customer_routes import add_customer_routes
from bot.api.errors import json_errors
from bot.api.nlu_routes import add_nlu_routes
from bot.api.openapi import ApiSpec
from bot.services import Services, build_services, running
from bot.settings import Settings
from channels.base import OutputChannel
from channels.visitor_tokens import VisitorTokens
from channels.webchat import CHANNEL as WEBCHAT
from channels.webchat import WebchatOutput, build_webchat, static_text
from knowledge.api import add_knowledge_routes

VERSION = "0.1.0"


def _api_app(spec: ApiSpec) -> web.Application:
    routes = web.RouteTableDef()
    add_knowledge_routes(spec, routes)
    add_nlu_routes(spec, routes)
    add_conversation_routes(spec, routes)
    add_agent_routes(spec, routes)
    add_customer_routes(spec, routes)

    @routes.get("/openapi.json")
    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(request.config_dict[keys.SPEC].document())

    api = web.Application(middlewares=[json_errors])
    api.add_routes(routes)
    return api


async def healthz(request: web.Request) -> web.Response:
    nlu = request.app[keys.NLU]
    body: dict[str, object] = {
        "status": "ok" if nlu.ready else "starting",
        "version": VERSION,
        "nlu": {"engine": request.app[keys.SETTINGS].nlu_engine, "model_version": nlu.version},
    }
    if nlu.rasa is not None:
        status = await nlu.rasa.client.status()
        body["rasa"] = {
            "reachable": status.reachable,
            "model": nlu.rasa.version,
            "breaker": status.breaker,
            "answering": "rasa" if status.reachable and status.breaker == "closed" else "local",
            "local_fallbacks": nlu.local_fallbacks,
        }
    return web.json_response(body, status=200 if nlu.ready else 503)


async def demo_page(request: web.Request) -> web.Response:
    return web.Response(text=static_text("demo.html"), content_type="text/html")


async def init_app(settings: Settings) -> web.Application:
    body_limit = max(settings.max_request_bytes, settings.max_import_bytes)
    app = web.Application(client_max_size=body_limit, middlewares=[json_errors])
    spec = ApiSpec("deskbot", VERSION)
    app[keys.SETTINGS] = settings
    app[keys.SPEC] = spec

    channels: dict[str, OutputChannel] = {}
    services = build_services(settings, channels)
    channels[WEBCHAT] = WebchatOutput(services.bus)
    _store(app, services)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        async with running(services):
            yield

    app.cleanup_ctx.append(lifetime)
    app.router.add_get("/", demo_page)
    app.router.add_get("/healthz", healthz)
    app.add_subapp("/api", _api_app(spec))
    app.add_subapp(
        "/webchat",
        build_webchat(spec, VisitorTokens(settings.secret_key, settings.visitor_token_max_age_s)),
    )
    return app


def _store(app: web.Application, services: Services) -> None:
    app[keys.SESSIONS] = services.sessions
    app[keys.BUS] = services.bus
    app[keys.KNOWLEDGE] = services.knowledge
    app[keys.NLU] = services.nlu
    app[keys.ENGINE] = services.engine
    app[keys.DISPATCHER] = services.dispatcher
    app[keys.QUEUE] = services.queue
    app[keys.POLICY] = services.policy
    app[keys.CHURN] = services.churn
