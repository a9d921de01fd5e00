"""The aiohttp application factory: init_app(settings) -> web.Application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot import keys
from bot.accounts.demo import ensure_demo_logins
from bot.accounts.login_sessions import LoginSessions
from bot.accounts.users import Users
from bot.api.admin_routes import add_admin_routes
from bot.api.agent_routes import add_agent_routes
from bot.api.console_routes import add_console_routes
from bot.api.conversation_routes import add_conversation_routes
from bot.api.customer_routes import add_customer_routes
from bot.api.errors import json_errors
from bot.api.nlu_routes import add_nlu_routes
from bot.api.openapi import ApiSpec
from bot.api.webhook_routes import add_webhook_routes
from bot.services import Services, build_services, running
from bot.settings import Settings
from bot.tasks import BackgroundTasks
from bot.web.client_address import parse_networks, real_client
from bot.web.console_socket import console_socket
from bot.web.cors import allow_origins
from bot.web.pages import add_page_routes
from bot.web.render import template_environment
from bot.web.security_headers import security_headers
from bot.web.signin import add_signin_routes, signed_in_user
from bot.webhooks import WebhookRecorder, WebhookSender, webhooks_running
from channels.base import OutputChannel
from channels.email import EmailOutput, EmailReceiver, ImapPoller, imap_polling, smtp_receiver
from channels.email_message import CHANNEL as EMAIL
from channels.slack import CHANNEL as SLACK
from channels.slack import SlackChannel, SlackOutput, build_slack, slack_running
from channels.telegram import CHANNEL as TELEGRAM
from channels.telegram import (
    TelegramOutput,
    TelegramReceiver,
    build_telegram,
    make_bot,
    telegram_running,
)
from channels.visitor_tokens import VisitorTokens
from channels.webchat import CHANNEL as WEBCHAT
from channels.webchat import WebchatOutput, build_webchat, static_text
from knowledge.api import add_knowledge_routes
from knowledge.articles.api import add_article_pages, add_article_routes
from knowledge.articles.appkey import ARTICLES
from knowledge.gaps.api import add_gap_pages, add_gap_routes
from knowledge.gaps.appkey import GAPS
from knowledge.gaps.finder import GapFinder

VERSION = "0.1.0"


def _api_app(spec: ApiSpec) -> web.Application:
    routes = web.RouteTableDef()
    add_knowledge_routes(spec, routes)
    add_nlu_routes(spec, routes)
    add_conversation_routes(spec, routes)
    add_agent_routes(spec, routes)
    add_customer_routes(spec, routes)
    add_console_routes(spec, routes)
    add_admin_routes(spec, routes)
    add_article_routes(spec, routes)
    add_gap_routes(spec, routes)
    add_webhook_routes(spec, routes)

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
        "worker": request.app[keys.SETTINGS].worker_index,
    }
    if nlu.rasa is not None:  # probed in the background: true without traffic
        body["rasa"] = {**nlu.rasa.health(), "local_fallbacks": nlu.local_fallbacks}
    return web.json_response(body, status=200 if nlu.ready else 503)


async def demo_page(request: web.Request) -> web.Response:
    return web.Response(text=static_text("demo.html"), content_type="text/html")


async def init_app(settings: Settings) -> web.Application:
    body_limit = max(settings.max_request_bytes, settings.max_import_bytes)
    app = web.Application(
        client_max_size=body_limit,
        middlewares=[
            real_client(parse_networks(settings.trusted_proxies)),
            signed_in_user,
            json_errors,
        ],
    )
    spec = ApiSpec("deskbot", VERSION)
    app[keys.SETTINGS] = settings
    app[keys.SPEC] = spec

    channels: dict[str, OutputChannel] = {}
    services = build_services(settings, channels)
    channels[WEBCHAT] = WebchatOutput(services.bus)
    _store(app, services)
    channel_lifetimes = _add_channels(app, settings, services, channels)
    wake_webhooks = asyncio.Event()
    app[keys.WEBHOOKS] = WebhookRecorder(services.sessions, wake_webhooks)
    webhook_sender = WebhookSender(services.sessions, wake_webhooks)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        async with running(services), contextlib.AsyncExitStack() as stack:
            for channel_lifetime in channel_lifetimes:
                await stack.enter_async_context(channel_lifetime)
            await stack.enter_async_context(
                webhooks_running(services.bus, app[keys.WEBHOOKS], webhook_sender)
            )
            if settings.demo_logins:
                await ensure_demo_logins(app[keys.USERS], settings.data_dir)
            await app[keys.LOGINS].purge_expired()
            yield
            await app[keys.TASKS].close()

    app.cleanup_ctx.append(lifetime)
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/", demo_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/console/ws", console_socket)
    add_signin_routes(app)
    add_page_routes(app)
    add_article_pages(app)
    add_gap_pages(app)
    app.add_subapp("/api", _api_app(spec))
    webchat = build_webchat(
        spec, VisitorTokens(settings.secret_key, settings.visitor_token_max_age_s)
    )
    allow_origins(webchat, settings.webchat_allowed_origins)
    app.add_subapp("/webchat", webchat)
    return app


def _add_channels(
    app: web.Application,
    settings: Settings,
    services: Services,
    channels: dict[str, OutputChannel],
) -> list[contextlib.AbstractAsyncContextManager[None]]:
    """Each channel the configuration enables: its output, its routes, its background work.

    Readers that must run once (Telegram polling, IMAP, the SMTP receiver's port) run in the
    primary process only."""
    lifetimes: list[contextlib.AbstractAsyncContextManager[None]] = []
    primary = settings.worker_index == 0
    if settings.telegram_token:
        bot = make_bot(settings.telegram_token, settings.telegram_api_url)
        receiver = TelegramReceiver(bot, services.engine)
        channels[TELEGRAM] = TelegramOutput(bot)
        app.add_subapp("/channels/telegram", build_telegram(receiver))
        mode = settings.telegram_mode if primary else "webhook"
        lifetimes.append(telegram_running(bot, receiver, mode, settings.telegram_poll_timeout_s))
    if settings.email_address:
        receiver = EmailReceiver(
            services.engine,
            settings.email_address,
            services.limiter,
            settings.email_receiver_messages_per_ip_min,
            services.sessions,
        )
        channels[EMAIL] = EmailOutput(settings, services.sessions)
        if settings.email_receiver_port and primary:
            lifetimes.append(smtp_receiver(receiver, settings))
        if settings.email_imap_host and primary:
            lifetimes.append(imap_polling(ImapPoller(receiver, settings)))
    if settings.slack_bot_token:
        client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        slack = SlackChannel(
            client,
            settings.slack_signing_secret,
            services.engine,
            services.sessions,
            services.bus,
            settings.slack_agent_channel,
        )
        channels[SLACK] = SlackOutput(client)
        app.add_subapp("/channels/slack", build_slack(slack))
        lifetimes.append(slack_running(slack))
    return lifetimes


def _store(app: web.Application, services: Services) -> None:
    app[keys.SESSIONS] = services.sessions
    app[keys.BUS] = services.bus
    app[keys.KNOWLEDGE] = services.knowledge
    app[ARTICLES] = services.articles
    app[GAPS] = GapFinder(services.sessions, services.knowledge, services.nlu)
    app[keys.NLU] = services.nlu
    app[keys.ENGINE] = services.engine
    app[keys.DISPATCHER] = services.dispatcher
    app[keys.QUEUE] = services.queue
    app[keys.POLICY] = services.policy
    app[keys.CHURN] = services.churn
    app[keys.HOURS] = services.hours
    app[keys.WEBCHAT_SETTINGS] = services.webchat
    app[keys.ASSIGNER] = services.assigner
    app[keys.USERS] = Users(services.sessions)
    app[keys.LOGINS] = LoginSessions(services.sessions, services.settings.session_max_age_s)
    app[keys.TEMPLATES] = template_environment()
    app[keys.TASKS] = BackgroundTasks()
    app[keys.RATE_LIMITER] = services.limiter
