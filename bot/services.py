"""Wiring: build the service objects of one deskbot instance from its settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.bus import EventBus, InProcessBus, Subscription
from bot.database import make_engine, make_sessionmaker, upgrade
from bot.engine import ConversationEngine
from bot.events import AGENTS_TOPIC, ConversationChanged, kb_topic
from bot.nlu.rasa_backend import RasaBackend
from bot.nlu.rasa_client import RasaClient
from bot.nlu.rasa_env import RasaEnvironment, RasaServer, RasaSetupError, default_home
from bot.nlu.result import FallbackRule
from bot.nlu.service import NluService
from bot.nlu.store import ModelStore
from bot.outbox import Dispatcher, RetryPolicy
from bot.rate_limits import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from bot.redis_bus import RedisBus
from bot.report_rollup import roll_up, roll_up_conversations
from bot.sender_throttle import SenderThrottle
from bot.settings import Settings
from channels.base import OutputChannel
from channels.webchat import CHANNEL as WEBCHAT
from channels.webchat_settings import WebchatSettings
from escalation.assignment import Assigner
from escalation.churn import ChurnScorer
from escalation.hours_store import HoursStore, HoursView
from escalation.policy import PolicySettings
from escalation.policy_store import PolicyStore
from escalation.queue import Queue, QueueSettings
from escalation.sentiment import SentimentAnalyzer
from escalation.signals import SignalGatherer
from escalation.sla import BusinessHours, Clock, SlaTargets, system_clock
from knowledge.articles.answer import ArticleResponder
from knowledge.articles.demo import load_demo_articles
from knowledge.articles.store import ArticleStore, follow_changes
from knowledge.demo import demo_intents
from knowledge.service import KnowledgeBase
from models.base import utcnow

log = logging.getLogger(__name__)

RETRAIN_DEBOUNCE_S = 0.3
SLA_CHECK_S = 30.0
ASSIGN_EVERY_S = 5.0
ROLLUP_CHECK_S = 3600.0


def churn_dir(settings: Settings) -> Path:
    return settings.data_dir / "churn"


def sentiment_dir(settings: Settings) -> Path:
    return settings.data_dir / "sentiment"


@dataclass
class Services:
    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    knowledge: KnowledgeBase
    nlu: NluService
    engine: ConversationEngine
    dispatcher: Dispatcher
    queue: Queue
    policy: PolicyStore
    churn: ChurnScorer
    hours: HoursStore
    limiter: RateLimiter
    articles: ArticleStore
    webchat: WebchatSettings
    assigner: Assigner


def build_queue(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> Queue:
    queue_settings = QueueSettings(
        hours=BusinessHours.parse(settings.business_hours, settings.business_timezone),
        sla=SlaTargets(
            timedelta(seconds=settings.sla_first_response_s),
            timedelta(seconds=settings.sla_resolution_s),
        ),
        agent_idle_s=settings.agent_idle_s,
    )
    return Queue(sessions, queue_settings, clock)


def build_services(
    settings: Settings, channels: dict[str, OutputChannel], clock: Clock = system_clock
) -> Services:
    db = make_engine(settings.sqlalchemy_url, settings.database_pool_size)
    sessions = make_sessionmaker(db)
    bus: EventBus = (
        RedisBus(settings.redis_url, settings.redis_prefix)
        if settings.redis_url
        else InProcessBus()
    )
    limiter: RateLimiter = (
        RedisRateLimiter(settings.redis_url, settings.redis_prefix)
        if settings.redis_url
        else MemoryRateLimiter()
    )
    knowledge = KnowledgeBase(sessions, bus)
    nlu = NluService(
        ModelStore(settings.data_dir / "nlu" / "local"),
        FallbackRule(settings.nlu_fallback_threshold, settings.nlu_ambiguity_threshold),
        knowledge.training_examples,
    )
    queue = build_queue(settings, sessions, clock)
    articles = ArticleStore(sessions, bus)
    churn = ChurnScorer(churn_dir(settings))
    policy = PolicyStore(
        sessions, PolicySettings(fallback_streak_to_escalate=settings.fallback_streak_to_escalate)
    )
    dispatcher = Dispatcher(
        sessions,
        channels,
        RetryPolicy(
            settings.outbox_max_attempts, settings.outbox_base_delay_s, settings.outbox_max_delay_s
        ),
        settings.outbox_poll_interval_s,
        settings.outbox_lease_s,
    )
    engine = ConversationEngine(
        sessions,
        knowledge,
        nlu,
        bus,
        policy,
        SignalGatherer(sessions, knowledge, churn, clock),
        SentimentAnalyzer(sentiment_dir(settings)),
        queue,
        SenderThrottle(
            limiter, settings.rate_messages_per_sender_min, limited_at_the_door=frozenset({WEBCHAT})
        ),
        settings.max_message_chars,
        outbox_ready=dispatcher.wake,
        articles=ArticleResponder(articles, sessions),
        email_away_visitors=bool(settings.email_address),
    )
    hours = HoursStore(
        sessions,
        HoursView(
            business_hours=settings.business_hours,
            business_timezone=settings.business_timezone,
            sla_first_response_s=settings.sla_first_response_s,
            sla_resolution_s=settings.sla_resolution_s,
        ),
        queue,
    )
    return Services(
        settings,
        db,
        sessions,
        bus,
        knowledge,
        nlu,
        engine,
        dispatcher,
        queue,
        policy,
        churn,
        hours,
        limiter,
        articles,
        WebchatSettings(sessions),
        Assigner(sessions, queue, settings.agent_idle_s),
    )


async def prepare(services: Services) -> None:
    """First use from an empty directory: schema, demo knowledge base, trained model."""
    await upgrade(services.db)
    if services.settings.load_demo_kb and await services.knowledge.count() == 0:
        counts = await services.knowledge.import_intents(demo_intents(), actor="demo-loader")
        log.info("demo knowledge base loaded", extra={"kb_import": counts})
    if services.settings.load_demo_kb:
        await load_demo_articles(services.articles)
    await services.nlu.sync()
    await services.policy.load()
    await services.hours.load()
    await services.webchat.load()
    await services.assigner.load()


@contextlib.asynccontextmanager
async def retrain_on_change(services: Services) -> AsyncIterator[None]:
    """Keep the live model in step with the knowledge base, without a restart."""

    rasa_jobs: set[asyncio.Task[None]] = set()

    async def watch() -> None:
        with services.bus.subscribe(kb_topic()) as changes:
            while True:
                await changes.queue.get()
                services.knowledge.forget_snapshot()  # an edit made in another process
                await asyncio.sleep(RETRAIN_DEBOUNCE_S)  # one retrain for a burst of edits
                while not changes.queue.empty():
                    changes.queue.get_nowait()
                try:
                    await services.nlu.sync()
                except Exception:
                    log.exception("retraining failed; the previous model stays live")
                if services.nlu.rasa is not None:
                    rasa_jobs.add(asyncio.create_task(_sync_rasa(services.nlu.rasa)))
                    rasa_jobs.difference_update({j for j in rasa_jobs if j.done()})

    task = asyncio.create_task(watch(), name="nlu-retrain")
    try:
        yield
    finally:
        for job in [task, *rasa_jobs]:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job


async def _sync_rasa(backend: RasaBackend) -> None:
    """Rasa trains for a while; until it is done, the previous Rasa model keeps answering."""
    try:
        await backend.sync()
    except Exception:
        log.exception("rasa retraining failed; the previous rasa model stays live")


@contextlib.asynccontextmanager
async def rasa_engine(services: Services) -> AsyncIterator[None]:
    """With nlu_engine=rasa: train Rasa from the KB, serve it, parse with it (local as fallback).
    Nothing waits for Rasa here: the service answers with the local engine until it is up."""
    settings = services.settings
    if settings.nlu_engine != "rasa":
        yield
        return
    env = RasaEnvironment(settings.rasa_home or default_home())
    if not settings.rasa_url and not env.rasa.is_file():
        raise RasaSetupError(
            f"nlu_engine is rasa but Rasa is not installed in {env.home}; run `deskbot rasa setup`"
        )
    server = None
    if not settings.rasa_url:
        server = RasaServer(env, settings.rasa_port, settings.data_dir / "rasa" / "server.log")
    async with aiohttp.ClientSession() as http:
        rule = FallbackRule(settings.nlu_fallback_threshold, settings.nlu_ambiguity_threshold)
        client = RasaClient(http, settings.rasa_url or server.url, rule)  # type: ignore[union-attr]
        backend = RasaBackend(
            env,
            client,
            settings.data_dir / "rasa" / "models",
            services.knowledge.intents,
            settings.rasa_epochs,
            (settings.nlu_fallback_threshold, settings.nlu_ambiguity_threshold),
            server,
        )
        services.nlu.rasa = backend  # parses go to it once it is ready; local until then
        jobs = [
            asyncio.create_task(backend.start_in_background(), name="rasa-start"),
            asyncio.create_task(backend.supervise(), name="rasa-supervisor"),
        ]
        try:
            yield
        finally:
            services.nlu.rasa = None
            for job in jobs:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            await backend.stop()


async def watch_sla(services: Services, interval_s: float = SLA_CHECK_S) -> None:
    """Overdue conversations move up the queue; the policy admins edited elsewhere is reloaded."""
    while True:
        try:
            await services.policy.load()
            await services.hours.load()
            await services.webchat.load()
            await services.assigner.load()
            services.churn.reload()
            overdue = await services.queue.reprioritise_overdue()
            for conversation_id in overdue:
                log.warning("first response overdue", extra={"conversation_id": conversation_id})
                await services.bus.publish(
                    AGENTS_TOPIC,
                    ConversationChanged(conversation_id, "queued", "queued", "SLA breached"),
                )
        except Exception:
            log.exception("SLA check failed")
        await asyncio.sleep(interval_s)


async def watch_unanswered(services: Services) -> None:
    """Messages stored but not answered (a crash between the two) get the bot's turn."""
    settings = services.settings
    grace = timedelta(seconds=settings.unanswered_after_s)
    max_age = timedelta(seconds=settings.unanswered_max_age_s)
    while True:
        try:
            await services.engine.answer_unanswered(grace, max_age)
        except Exception:
            log.exception("catching up on unanswered messages failed")
        await asyncio.sleep(settings.unanswered_after_s)


async def watch_rollup(services: Services, interval_s: float = ROLLUP_CHECK_S) -> None:
    """Finished days are rolled up for reports: the backlog on start, then each new day."""
    settings = services.settings
    # A day is final once a message from its last second could still get the bot's turn.
    grace = timedelta(seconds=settings.unanswered_max_age_s + settings.unanswered_after_s + 600)
    while True:
        try:
            added = await roll_up(services.sessions, utcnow(), grace)
            tallied = await roll_up_conversations(services.sessions, utcnow())
            if added or tallied:
                log.info("days rolled up for reports", extra={"days": added, "tallied": tallied})
        except Exception:
            log.exception("rolling up days for reports failed")
        await asyncio.sleep(interval_s)


async def assign_continuously(services: Services, interval_s: float = ASSIGN_EVERY_S) -> None:
    """Waiting chats of auto-assigned teams go to agents as soon as one is free: on each
    escalation here, and every few seconds for agents coming back and chats elsewhere."""
    engine, assigner = services.engine, services.assigner
    with services.bus.subscribe_local(AGENTS_TOPIC) as events:
        while True:
            await _escalation_or(events, interval_s)
            try:
                await assigner.requeue_from_gone(engine.requeue)
                for done in await assigner.assign_waiting(engine.claim):
                    log.info(
                        "conversation assigned",
                        extra={
                            "conversation_id": done.conversation_id,
                            "agent_id": done.agent_id,
                            "mode": done.mode.value,
                        },
                    )
            except Exception:
                log.exception("automatic assignment failed; trying again")


async def _escalation_or(events: Subscription, timeout_s: float) -> None:
    """Until a conversation here starts waiting, or the time is up."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while True:
                event = await events.queue.get()
                if isinstance(event, ConversationChanged) and event.state == "queued":
                    return


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[Services]:
    """Prepared services with their background tasks, torn down on exit."""
    await prepare(services)
    if isinstance(services.bus, RedisBus):
        await services.bus.start()
    tasks = [
        asyncio.create_task(services.dispatcher.run(), name="outbox"),
        asyncio.create_task(watch_sla(services), name="sla"),
    ]
    if services.settings.worker_index == 0:  # one sweeper is enough; the engine dedupes anyway
        tasks.append(asyncio.create_task(watch_unanswered(services), name="unanswered"))
        tasks.append(asyncio.create_task(watch_rollup(services), name="rollup"))
        tasks.append(asyncio.create_task(assign_continuously(services), name="assignment"))
    try:
        async with (
            rasa_engine(services),
            retrain_on_change(services),
            follow_changes(services.articles, services.bus),
        ):
            yield services
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if isinstance(services.bus, RedisBus):
            await services.bus.close()
        if isinstance(services.limiter, RedisRateLimiter):
            await services.limiter.close()
        await services.db.dispose()
