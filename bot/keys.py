"""Typed keys for what the aiohttp application holds (no module-level singletons)."""

from __future__ import annotations

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.accounts.login_sessions import LoginSessions
from bot.accounts.users import Users
from bot.api.openapi import ApiSpec
from bot.bus import EventBus
from bot.engine import ConversationEngine
from bot.nlu.service import NluService
from bot.outbox import Dispatcher
from bot.rate_limits import RateLimiter
from bot.settings import Settings
from bot.tasks import BackgroundTasks
from bot.webhooks import WebhookRecorder
from channels.webchat_settings import WebchatSettings
from escalation.assignment import Assigner
from escalation.churn import ChurnScorer
from escalation.hours_store import HoursStore
from escalation.policy_store import PolicyStore
from escalation.queue import Queue
from knowledge.service import KnowledgeBase

SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
BUS = web.AppKey("bus", EventBus)  # type: ignore[type-abstract]
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
NLU = web.AppKey("nlu", NluService)
ENGINE = web.AppKey("engine", ConversationEngine)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
SPEC = web.AppKey("spec", ApiSpec)
QUEUE = web.AppKey("queue", Queue)
POLICY = web.AppKey("policy", PolicyStore)
CHURN = web.AppKey("churn", ChurnScorer)
USERS = web.AppKey("users", Users)
LOGINS = web.AppKey("logins", LoginSessions)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
TASKS = web.AppKey("tasks", BackgroundTasks)
HOURS = web.AppKey("hours", HoursStore)
WEBCHAT_SETTINGS = web.AppKey("webchat_settings", WebchatSettings)
WEBHOOKS = web.AppKey("webhooks", WebhookRecorder)
ASSIGNER = web.AppKey("assigner", Assigner)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)  # type: ignore[type-abstract]
