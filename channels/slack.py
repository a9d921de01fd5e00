"""Slack through slack-bolt (async, on aiohttp): a customer channel and an agent tool.

Customers: direct messages to the app (the whole DM is one conversation, or one per thread)
and messages in shared Slack Connect channels (each thread one conversation).
Agents: each escalation is posted to an internal channel; in its thread an agent writes
`claim`, replies (which claims it if nobody has), `handback` or `resolve`; the customer's
messages are mirrored into the thread. Bolt verifies request signatures; a customer's message is
acknowledged once it is stored and answered after (Slack's 3-second rule); Slack's retries
carry the same message ts, which the engine deduplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import keys
from bot.api.body import parse_json
from bot.api.errors import BadRequest
from bot.bus import EventBus
from bot.engine import ConversationEngine, ConversationNotFound, ReceiveResult
from bot.events import AGENTS_TOPIC, ConversationChanged, MessageCreated
from bot.rate_limits import count_failure, refuse_repeat_failures
from bot.states import StateConflict
from channels.base import (
    DeliveryError,
    DeliveryTarget,
    InboundMessage,
    InvalidMessage,
    OutboundText,
    fit_text,
)
from escalation.queue import AgentUnavailable
from models import Agent, Conversation, SlackAgentThread
from models.base import utcnow

log = logging.getLogger(__name__)

CHANNEL = "slack"
MAX_EVENT_BYTES = 512 * 1024
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
EMAIL_CACHE_S = 600.0
"""How long a Slack user's email (users.info) is trusted before it is asked again."""
COMMANDS = {
    "claim": "claim",
    "take": "claim",
    "handback": "hand_back",
    "hand back": "hand_back",
    "resolve": "resolve",
    "resolved": "resolve",
}


def thread_of(event: dict[str, Any], shared: bool) -> str:
    """A DM is one conversation unless the customer opened a thread; a shared channel's
    conversations are its threads."""
    channel, thread_ts = event["channel"], event.get("thread_ts")
    if thread_ts or shared:
        return f"{channel}:{thread_ts or event['ts']}"
    return channel


def split_thread(external_thread: str) -> tuple[str, str | None]:
    channel, _, thread_ts = external_thread.partition(":")
    return channel, thread_ts or None


class MalformedEvent(ValueError):
    """A signed event deskbot cannot read: acknowledged (a retry would be the same) and logged."""


def customer_message(body: dict[str, Any], max_chars: int) -> InboundMessage | None:
    """A customer's message, None when the event is not one, or MalformedEvent. A message
    over `max_chars` is kept cut to fit, flagged in meta (Slack cannot be told it is too long,
    and a refusal would lose it)."""
    event = body.get("event")
    if not isinstance(event, dict):
        raise MalformedEvent("the event is not an object")
    if event.get("subtype") or event.get("bot_id") or not event.get("text"):
        return None
    shared = bool(body.get("is_ext_shared_channel"))
    if event.get("channel_type") != "im" and not shared:
        return None
    missing = [k for k in ("user", "channel", "ts") if not _is_id(event.get(k))]
    if missing or not isinstance(event["text"], str):
        raise MalformedEvent(f"bad or missing {', '.join(missing) or 'text'}")
    if event.get("thread_ts") is not None and not _is_id(event["thread_ts"]):
        raise MalformedEvent("bad thread_ts")
    text, full_length = fit_text(event["text"], max_chars)
    team = event.get("user_team") or body.get("team_id") or ""
    return InboundMessage(
        channel=CHANNEL,
        external_user=f"{team}:{event['user']}",
        external_thread=thread_of(event, shared),
        external_id=f"{event['channel']}:{event['ts']}",
        text=text,
        meta={} if full_length is None else {"truncated_from": str(full_length)},
    )


def _is_id(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


class SlackOutput:
    name = CHANNEL

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        channel, thread_ts = split_thread(target.external_thread)
        try:
            await self._client.chat_postMessage(
                channel=channel, text=message.text, thread_ts=thread_ts
            )
        except SlackApiError as exc:
            raise _delivery_error(exc) from None


class SlackChannel:
    def __init__(
        self,
        client: AsyncWebClient,
        signing_secret: str,
        engine: ConversationEngine,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        agent_channel: str,
    ) -> None:
        self.client = client
        self.verifier = SignatureVerifier(signing_secret)
        self._engine = engine
        self._sessions = sessions
        self._bus = bus
        self.agent_channel = agent_channel
        self._emails_by_slack_user: dict[str, tuple[str, float]] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._answering: set[asyncio.Task[ReceiveResult]] = set()
        # Ack only once the message is stored: a crash before that makes Slack retry, and the
        # engine's catch-up sweep answers what was stored but not answered.
        self.app = AsyncApp(
            client=client, signing_secret=signing_secret, process_before_response=True
        )
        self.app.event("message")(self._on_message)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if self.agent_channel and event.get("channel") == self.agent_channel:
            if event.get("thread_ts") and not event.get("subtype") and not event.get("bot_id"):
                if not all(_is_id(event.get(k)) for k in ("user", "thread_ts")) or not (
                    isinstance(event.get("text", ""), str)
                ):
                    log.warning("malformed slack agent message ignored")
                    return
                await self._on_agent_message(event)
            return
        try:
            inbound = customer_message(body, self._engine.max_message_chars)
        except (MalformedEvent, InvalidMessage) as exc:
            log.warning("malformed slack event acknowledged and dropped", extra={"error": str(exc)})
            return
        if inbound is not None:
            try:
                accepted = await self._engine.accept(inbound)
            except InvalidMessage as exc:  # nothing left once cleaned: nothing to keep
                log.info("empty slack message dropped", extra={"error": str(exc)})
                return
            task = asyncio.create_task(self._engine.answer(accepted))
            self._answering.add(task)
            task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[ReceiveResult]) -> None:
        self._answering.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack message not answered", exc_info=task.exception())

    async def stop(self) -> None:
        """Unfinished bot turns are dropped; the catch-up sweep redoes them after a restart."""
        for task in list(self._answering):
            task.cancel()
        await asyncio.gather(*self._answering, return_exceptions=True)

    async def _on_agent_message(self, event: dict[str, Any]) -> None:
        async with self._sessions() as session:
            conversation_id = await session.scalar(
                select(SlackAgentThread.conversation_id).where(
                    SlackAgentThread.channel == event["channel"],
                    SlackAgentThread.ts == event["thread_ts"],
                )
            )
        if conversation_id is None:
            return
        agent_id = await self._agent_for(event["user"])
        if agent_id is None:
            await self._note(event, "Your Slack email is not a deskbot agent's; ask an admin.")
            return
        await self._seen_in_slack(agent_id)
        text = event.get("text", "").strip()
        try:
            # Bolt runs listeners concurrently; one conversation's agent actions go in order.
            async with self._locks[conversation_id]:
                await self._act(conversation_id, agent_id, text)
        except (StateConflict, AgentUnavailable, ConversationNotFound) as exc:
            await self._note(event, f"Not done: {exc}")

    async def _act(self, conversation_id: int, agent_id: int, text: str) -> None:
        command = COMMANDS.get(text.lower().rstrip("."))
        if command == "claim":
            await self._engine.claim(conversation_id, agent_id)
        elif command == "hand_back":
            await self._engine.hand_back(conversation_id, agent_id)
        elif command == "resolve":
            await self._engine.resolve(conversation_id, f"agent {agent_id}")
        else:
            if await self._state(conversation_id) == "queued":
                with contextlib.suppress(StateConflict):  # agent_reply says who owns it
                    await self._engine.claim(conversation_id, agent_id)
            await self._engine.agent_reply(conversation_id, agent_id, text)

    async def _seen_in_slack(self, agent_id: int) -> None:
        """An agent acting here is at work: the queue counts them for the idle time. Like
        signing in to the console, acting here makes an agent who was offline online."""
        async with self._sessions() as session:
            await session.execute(
                update(Agent)
                .where(Agent.id == agent_id)
                .values(
                    last_slack_at=utcnow(),
                    status=case((Agent.status == "offline", "online"), else_=Agent.status),
                )
            )
            await session.commit()

    async def _state(self, conversation_id: int) -> str | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Conversation.state).where(Conversation.id == conversation_id)
            )

    async def _agent_for(self, slack_user: str) -> int | None:
        """Slack users are matched to deskbot agents by email (users:read.email scope). The
        email is remembered; whether that agent is still active is asked on every action, so
        deactivating an agent takes their Slack powers away at once."""
        email = await self._email_of(slack_user)
        if not email:
            return None
        async with self._sessions() as session:
            return await session.scalar(
                select(Agent.id).where(Agent.email == email.lower(), Agent.active)
            )

    async def _email_of(self, slack_user: str) -> str | None:
        known = self._emails_by_slack_user.get(slack_user)
        if known is not None and time.monotonic() - known[1] < EMAIL_CACHE_S:
            return known[0]
        try:
            info = await self.client.users_info(user=slack_user)
        except SlackApiError as exc:
            log.warning("slack users.info failed", extra={"error": str(exc)})
            return None
        email = str((info.get("user") or {}).get("profile", {}).get("email", ""))
        self._emails_by_slack_user[slack_user] = (email, time.monotonic())
        return email

    async def _note(self, event: dict[str, Any], text: str) -> None:
        with contextlib.suppress(SlackApiError):
            await self.client.chat_postMessage(
                channel=event["channel"], thread_ts=event["thread_ts"], text=text
            )

    async def announce(self) -> None:
        """Post escalations to the agents' channel and mirror the customer into their thread."""
        with self._bus.subscribe_local(AGENTS_TOPIC) as events:  # once, by the acting process
            while True:
                event = await events.queue.get()
                try:
                    if isinstance(event, ConversationChanged):
                        await self._on_state(event)
                    elif (
                        isinstance(event, MessageCreated)
                        and event.message.sender_kind == "customer"
                    ):
                        await self._mirror(
                            event.message.conversation_id, f"Customer: {event.message.text}"
                        )
                except SlackApiError as exc:
                    log.warning("slack agent channel post failed", extra={"error": str(exc)})

    async def _on_state(self, event: ConversationChanged) -> None:
        if event.state == "queued" and event.previous_state != "queued":
            await self._post_escalation(event.conversation_id)
        elif event.state != event.previous_state:
            await self._mirror(event.conversation_id, f"Conversation is now {event.state}.")

    async def _post_escalation(self, conversation_id: int) -> None:
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
            posted = await session.get(SlackAgentThread, conversation_id)
        if conversation is None or posted is not None:
            return
        text = (
            f"Conversation #{conversation.id} on {conversation.channel} needs a person "
            f"(priority {conversation.priority}, team {conversation.team}): "
            f"{conversation.escalation_reason or 'no reason given'}.\n"
            "Reply in this thread to answer; `claim`, `handback` and `resolve` work too."
        )
        response = await self.client.chat_postMessage(channel=self.agent_channel, text=text)
        async with self._sessions() as session:
            session.add(
                SlackAgentThread(
                    conversation_id=conversation_id, channel=response["channel"], ts=response["ts"]
                )
            )
            await session.commit()

    async def _mirror(self, conversation_id: int, text: str) -> None:
        async with self._sessions() as session:
            thread = await session.get(SlackAgentThread, conversation_id)
        if thread is not None:
            await self.client.chat_postMessage(
                channel=thread.channel, thread_ts=thread.ts, text=text
            )


def build_slack(slack: SlackChannel) -> web.Application:
    async def events(request: web.Request) -> web.Response:
        limiter = request.config_dict[keys.RATE_LIMITER]
        limit = request.config_dict[keys.SETTINGS].rate_webhook_failures_per_ip_min
        failures = f"webhook-fail:slack:{request.remote}"
        await refuse_repeat_failures(limiter, failures, limit)
        stamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            # Bolt would raise on int() of it (a 500); it is a forged or broken call.
            await count_failure(limiter, failures, limit)
            return web.json_response(
                {"error": "missing or malformed request timestamp"}, status=401
            )
        if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
            return web.json_response({"error": "event too large"}, status=413)
        readable = True
        if request.content_type != "application/x-www-form-urlencoded":
            # Bolt would take a body it cannot parse for its own error; refuse it clearly.
            payload = parse_json(await request.read(), "the event")
            if not isinstance(payload, dict):
                raise BadRequest("the event must be a JSON object")
            readable = isinstance(payload.get("event", {}), dict)
        bolt_request = None
        if readable:
            # Bolt reads the body before it checks the signature, and some shapes (a user
            # that is a number) make it raise.
            with contextlib.suppress(TypeError, KeyError, ValueError, AttributeError):
                bolt_request = await to_bolt_request(request)
        if bolt_request is None:  # so check the signature here, and acknowledge it
            signature = request.headers.get("X-Slack-Signature", "")
            if not slack.verifier.is_valid(await request.read(), stamp, signature):
                await count_failure(limiter, failures, limit)
                return web.json_response({"error": "invalid request signature"}, status=401)
            log.warning("malformed slack event acknowledged and dropped")
            return web.json_response({"ok": True, "result": "malformed"})
        answer = await slack.app.async_dispatch(bolt_request)
        if answer.status == 401:  # Bolt found the signature or its timestamp wrong
            await count_failure(limiter, failures, limit)
        return await to_aiohttp_response(answer)

    app = web.Application(client_max_size=MAX_EVENT_BYTES)
    app.router.add_post("/events", events)
    return app


@contextlib.asynccontextmanager
async def slack_running(slack: SlackChannel) -> AsyncIterator[None]:
    announcer = asyncio.create_task(slack.announce()) if slack.agent_channel else None
    try:
        yield
    finally:
        if announcer is not None:
            announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announcer
        await slack.stop()


def _delivery_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    if response is not None and response.status_code == 429:
        retry_after = float(response.headers.get("Retry-After", "1"))
        return DeliveryError("slack rate limit", retry_after=retry_after)
    return DeliveryError(f"slack: {exc}")
