"""Web chat: JSON endpoints, a WebSocket, the embeddable widget, and outbound delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Annotated, Any

from aiohttp import WSCloseCode, WSMsgType, web
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import keys
from bot.api.body import parse_json, read_model
from bot.api.errors import BadRequest
from bot.api.ids import parse_id
from bot.api.openapi import ApiSpec
from bot.bus import BusGap, BusUnavailable, EventBus, Subscription
from bot.engine import ConversationEngine
from bot.events import (
    AGENTS_TOPIC,
    AgentTyping,
    CustomerTyping,
    MessageDelivered,
    MessageView,
    thread_topic,
)
from bot.rate_limits import RateLimited, RateLimiter, check
from bot.settings import Settings
from bot.shown_messages import ShownMessages
from bot.web.cors import origin_allowed
from channels.base import (
    DeliveryError,
    DeliveryTarget,
    InboundMessage,
    InvalidMessage,
    OutboundText,
)
from channels.email import send_mail
from channels.visitor_identity import (
    MAX_IDENTITY_CHARS,
    IdentityRejected,
    VerifiedIdentity,
    verify_identity,
)
from channels.visitor_tokens import TokenRejected, Visitor, VisitorTokens
from channels.webchat_away import (
    FIRST_BEAT_S,
    SEEN_BEAT_S,
    mark_left,
    mark_seen,
    visitor_addresses,
)
from channels.webchat_mail import transcript_mail
from escalation.customers import link_identity, note_contact
from models import Agent, Conversation, ConversationState, Message
from models.base import utcnow

log = logging.getLogger(__name__)

CHANNEL = "webchat"
PREFIX = "/webchat"
HISTORY_LIMIT = 200
TOKENS = web.AppKey("visitor_tokens", VisitorTokens)

ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    identity: Annotated[str, StringConstraints(max_length=MAX_IDENTITY_CHARS)] | None = Field(
        default=None,
        description="Your site's signed-in user, as the exact JSON text you signed: "
        '{"user_id": …, "email": …, "name": …, "issued_at": Unix seconds}.',
    )
    signature: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="HMAC-SHA256 of `identity` with webchat_identity_secret, hex."
    )


class SessionResponse(BaseModel):
    token: str
    visitor_id: str
    identified: bool = False
    """The visitor is a customer your site vouched for: their chat is the same on every
    device they sign in from."""


class ContactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class ContactResponse(BaseModel):
    email: str
    by_email: bool
    """This server sends email: an agent's reply reaches the address if the visitor has left."""


class TranscriptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = Field(
        default=None, description="Where to send it; default: the address given before."
    )


class TranscriptResponse(BaseModel):
    sent_to: str
    messages: int


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="What the customer wrote.")
    client_message_id: ClientId | None = Field(
        default=None, description="Set by the client; a resend with the same id is ignored."
    )


class VisitorMessage(BaseModel):
    """A message as the visitor sees it: without the bot's intent, confidence and sentiment
    reading, which are for agents (the console and the admin API keep them)."""

    id: int
    conversation_id: int
    direction: str
    sender_kind: str
    text: str
    created_at: str
    quick_replies: list[Any] | None = None
    sender_name: str | None = None

    @classmethod
    def of(cls, view: MessageView) -> VisitorMessage:
        return cls.model_validate(
            {k: v for k, v in view.to_json().items() if k in cls.model_fields}
        )


class SendResponse(BaseModel):
    conversation_id: int
    message_id: int
    duplicate: bool
    state: str
    replies: list[VisitorMessage]


class HistoryResponse(BaseModel):
    state: str | None
    messages: list[VisitorMessage]


class AvailabilityResponse(BaseModel):
    people: str
    """online: someone of the team is at a console; away: open hours, nobody there just now;
    offline: outside business hours."""
    opens_at: str | None
    """ISO 8601, when offline: when the team is back."""
    opens: str | None
    """The same, as the company writes it: weekday, time and zone ("Mon 09:00 Europe/Berlin")."""
    welcome: str | None = None
    """The admin's first message for a new visitor, in the language asked for (`lang`)."""
    prechat_form: bool = False
    """Ask the visitor's name and email before their first message."""
    ask_email_when_away: bool = True
    """With nobody there, offer to answer by email."""
    by_email: bool = False
    """This server sends email (the email channel is set up): replies and transcripts can go
    to the visitor's address."""


class WebchatOutput:
    """Delivery to a web-chat visitor: announce on the thread's topic, where sockets listen."""

    name = CHANNEL

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        view = MessageView(
            id=message.message_id,
            conversation_id=message.conversation_id,
            direction="out",
            sender_kind=message.sender_kind,
            text=message.text,
            intent=None,
            confidence=None,
            created_at=message.created_at.isoformat(),
            quick_replies=message.quick_replies,
            sender_name=message.sender_name,
        )
        try:
            await self._bus.publish(
                thread_topic(CHANNEL, target.external_thread),
                MessageDelivered(CHANNEL, target.external_thread, view),
                required=True,  # the visitor's socket may be held by another process
            )
        except BusUnavailable as exc:
            raise DeliveryError(str(exc), outage=True) from exc


def _visitor(request: web.Request, token: str | None) -> Visitor:
    if not token:
        raise BadRequest("visitor token missing (Authorization: Bearer …)", status=401)
    try:
        return request.app[TOKENS].verify(token)
    except TokenRejected as exc:
        raise BadRequest(str(exc), status=401) from None


@dataclass(frozen=True, slots=True)
class _Senders:
    """What handling a customer's message needs, looked up once per socket, not per frame."""

    engine: ConversationEngine
    limiter: RateLimiter
    settings: Settings

    @classmethod
    def of(cls, request: web.Request) -> _Senders:
        config = request.config_dict
        return cls(config[keys.ENGINE], config[keys.RATE_LIMITER], config[keys.SETTINGS])

    async def throttle(self, visitor: Visitor, address: str | None) -> None:
        limits = self.settings
        await check(
            self.limiter,
            [
                (f"messages:visitor:{visitor.visitor_id}", limits.rate_messages_per_visitor_min),
                (f"messages:ip:{address}", limits.rate_messages_per_ip_min),
            ],
        )


async def _verified(request: web.Request, body: SessionRequest) -> VerifiedIdentity:
    settings = request.config_dict[keys.SETTINGS]
    try:
        return verify_identity(
            settings.webchat_identity_secret,
            body.identity or "",
            body.signature or "",
            settings.webchat_identity_max_age_s,
        )
    except IdentityRejected as exc:
        log.warning("webchat identity refused", extra={"why": str(exc)})
        raise BadRequest(str(exc), status=401) from None


CONTACTS_PER_VISITOR_MIN = 5
TRANSCRIPTS_PER_VISITOR_MIN = 2
TRANSCRIPTS_PER_ADDRESS_HOUR = 3
TRANSCRIPTS_PER_IP_HOUR = 6
TRANSCRIPT_LIMIT = 1000


def _address(text: str) -> str:
    try:
        # The syntax is checked, not where it leads: an intranet's domain (and .test) is
        # taken, a mail that bounces comes back to the support mailbox.
        checked = validate_email(
            text, check_deliverability=False, globally_deliverable=False, test_environment=True
        )
        return checked.normalized.lower()
    except EmailNotValidError as exc:
        raise BadRequest(f"{text[:80]!r} is not an email address: {exc}", status=422) from None


async def _send_transcript(
    request: web.Request, visitor: Visitor, to: str | None
) -> TranscriptResponse:
    config = request.config_dict
    async with config[keys.SESSIONS]() as session:
        if to is None:
            known = sorted(await visitor_addresses(session, visitor.thread_id))
            if not known:
                raise BadRequest("give the email address to send the transcript to", status=422)
            to = known[0]
        else:
            to = _address(to)
        conversation = await _latest_conversation(session, visitor)
        if conversation is None:
            raise BadRequest("there is no conversation to send yet", status=409)
        messages = (
            await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.id)
                .limit(TRANSCRIPT_LIMIT)
            )
        ).all()
        agent_ids = {m.agent_id for m in messages if m.agent_id}
        agents = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))
        names = {row.id: row.name for row in agents}
    zone = config[keys.QUEUE].settings.hours.zone
    mail = transcript_mail(config[keys.SETTINGS], to, messages, conversation.language, zone, names)
    try:
        await send_mail(config[keys.SETTINGS], mail)
    except DeliveryError as exc:
        log.warning("transcript not sent", extra={"error": str(exc)[:200]})
        raise BadRequest(
            "the mail server did not take the transcript; try again later", status=502
        ) from None
    return TranscriptResponse(sent_to=to, messages=len(messages))


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _inbound(visitor: Visitor, text: str, client_id: str | None) -> InboundMessage:
    return InboundMessage(
        channel=CHANNEL,
        external_user=visitor.visitor_id,
        external_thread=visitor.thread_id,
        # Namespaced by visitor: one visitor's ids can never collide with another's.
        external_id=f"{visitor.visitor_id}:{client_id or uuid.uuid4().hex}",
        text=text,
    )


async def _latest_conversation(session: AsyncSession, visitor: Visitor) -> Conversation | None:
    """The visitor's chat: their thread's newest conversation."""
    return await session.scalar(
        select(Conversation)
        .where(Conversation.channel == CHANNEL, Conversation.external_thread == visitor.thread_id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def _history(request: web.Request, visitor: Visitor, after: int = 0) -> HistoryResponse:
    async with request.config_dict[keys.SESSIONS]() as session:
        conversation = await _latest_conversation(session, visitor)
        if conversation is None:
            return HistoryResponse(state=None, messages=[])
        rows = (
            await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id, Message.id > after)
                .order_by(Message.id.desc())
                .limit(HISTORY_LIMIT)
            )
        ).all()
    messages = [VisitorMessage.of(MessageView.of(m)) for m in reversed(rows)]
    return HistoryResponse(state=conversation.state, messages=messages)


def build_webchat(spec: ApiSpec, tokens: VisitorTokens) -> web.Application:
    routes = web.RouteTableDef()
    api = _api(spec, routes)

    @api(
        "POST",
        "/sessions",
        "Start a web-chat session",
        body=SessionRequest,
        response=SessionResponse,
    )
    async def create_session(request: web.Request) -> web.Response:
        settings = request.config_dict[keys.SETTINGS]
        await check(
            request.config_dict[keys.RATE_LIMITER],
            [(f"sessions:ip:{request.remote}", settings.rate_sessions_per_ip_min)],
        )
        body = await read_model(request, SessionRequest) if request.can_read_body else None
        known = await _verified(request, body) if body and body.identity is not None else None
        secret = request.config_dict[keys.SETTINGS].webchat_identity_secret
        visitor_id = known.visitor_id(secret) if known else uuid.uuid4().hex
        if known is not None:
            await link_identity(
                request.config_dict[keys.SESSIONS],
                CHANNEL,
                visitor_id,
                user_id=known.user_id,
                email=known.email,
                name=known.name,
            )
        token = tokens.issue(Visitor(visitor_id, visitor_id))
        log.info(
            "webchat session",
            extra={
                "visitor": visitor_id,
                "named": bool(body and body.name),
                "identified": known is not None,
            },
        )
        response = SessionResponse(token=token, visitor_id=visitor_id, identified=bool(known))
        return web.json_response(response.model_dump())

    @api(
        "POST",
        "/messages",
        "Send a customer message; the bot's replies come back in the answer",
        body=SendRequest,
        response=SendResponse,
        auth="visitorToken",
    )
    async def send(request: web.Request) -> web.Response:
        visitor = _visitor(request, _bearer(request))
        senders = _Senders.of(request)
        await senders.throttle(visitor, request.remote)
        body = await read_model(request, SendRequest)
        result = await senders.engine.receive(_inbound(visitor, body.text, body.client_message_id))
        response = SendResponse(
            conversation_id=result.conversation_id,
            message_id=result.message_id,
            duplicate=result.duplicate,
            state=result.state,
            replies=[VisitorMessage.of(r) for r in result.replies],
        )
        return web.json_response(response.model_dump())

    @api(
        "GET",
        "/messages",
        "This visitor's conversation so far",
        response=HistoryResponse,
        auth="visitorToken",
        query=(("after", "integer"),),
    )
    async def history(request: web.Request) -> web.Response:
        visitor = _visitor(request, _bearer(request))
        raw_after = request.query.get("after", "0")
        after = 0 if raw_after == "0" else parse_id(raw_after)
        if after is None:
            raise BadRequest("'after' must be a message id (a whole number)")
        return web.json_response((await _history(request, visitor, after)).model_dump())

    @api(
        "GET",
        "/availability",
        "Whether a person can answer now (the widget's header)",
        response=AvailabilityResponse,
        query=(("lang", "string"),),
    )
    async def availability(request: web.Request) -> web.Response:
        queue = request.config_dict[keys.QUEUE]
        widget = request.config_dict[keys.WEBCHAT_SETTINGS]
        language = request.query.get("lang", "en")[:16].lower()
        known = await queue.availability()
        opens = None
        if known.opens_at is not None:
            zone = queue.settings.hours.zone
            opens = known.opens_at.astimezone(zone).strftime("%a %H:%M ") + str(zone)
        response = AvailabilityResponse(
            people=known.people.value,
            opens_at=known.opens_at.isoformat() if known.opens_at else None,
            opens=opens,
            welcome=widget.welcome(language),
            prechat_form=widget.current.prechat_form,
            ask_email_when_away=widget.current.ask_email_when_away,
            by_email=bool(request.config_dict[keys.SETTINGS].email_address),
        )
        return web.json_response(response.model_dump())

    @api(
        "POST",
        "/contact",
        "Leave an email address: an agent's reply reaches it if the visitor has left",
        body=ContactRequest,
        response=ContactResponse,
        auth="visitorToken",
    )
    async def contact(request: web.Request) -> web.Response:
        visitor = _visitor(request, _bearer(request))
        settings = request.config_dict[keys.SETTINGS]
        await check(
            request.config_dict[keys.RATE_LIMITER],
            [(f"contact:visitor:{visitor.visitor_id}", CONTACTS_PER_VISITOR_MIN)],
        )
        body = await read_model(request, ContactRequest)
        address = _address(body.email)
        await note_contact(
            request.config_dict[keys.SESSIONS],
            CHANNEL,
            visitor.visitor_id,
            email=address,
            name=body.name,
        )
        response = ContactResponse(email=address, by_email=bool(settings.email_address))
        return web.json_response(response.model_dump())

    @api(
        "POST",
        "/transcript",
        "Email this visitor the conversation so far",
        body=TranscriptRequest,
        response=TranscriptResponse,
        auth="visitorToken",
    )
    async def transcript(request: web.Request) -> web.Response:
        visitor = _visitor(request, _bearer(request))
        settings = request.config_dict[keys.SETTINGS]
        if not settings.email_address:
            raise BadRequest("this server does not send email", status=503)
        await check(
            request.config_dict[keys.RATE_LIMITER],
            [(f"transcript:visitor:{visitor.visitor_id}", TRANSCRIPTS_PER_VISITOR_MIN)],
        )
        body = await read_model(request, TranscriptRequest)
        limiter = request.config_dict[keys.RATE_LIMITER]
        # The address is not confirmed, and the mail comes from the company's own server: a
        # few per address and per client an hour, so nobody can send it to strangers in bulk.
        to = f"to:{_address(body.email)}" if body.email else f"visitor:{visitor.visitor_id}"
        await check(
            limiter,
            [
                (f"transcript:{to}", TRANSCRIPTS_PER_ADDRESS_HOUR),
                (f"transcript:ip:{request.remote}", TRANSCRIPTS_PER_IP_HOUR),
            ],
            window_s=3600,
        )
        sent = await _send_transcript(request, visitor, body.email)
        return web.json_response(sent.model_dump())

    @routes.get("/chat")
    async def chat_page(request: web.Request) -> web.Response:
        """The chat on its own page: where the link in our emails leads."""
        return web.Response(text=static_text("chat.html"), content_type="text/html")

    @routes.get("/ws")
    async def socket(request: web.Request) -> web.StreamResponse:
        return await _socket(request)

    @routes.get("/widget.js")
    async def widget(request: web.Request) -> web.Response:
        return web.Response(
            text=static_text("widget.js"),
            content_type="application/javascript",
            headers={"Cache-Control": "public, max-age=300"},
        )

    app = web.Application()
    app[TOKENS] = tokens
    app.add_routes(routes)
    return app


def _api(spec: ApiSpec, routes: web.RouteTableDef):  # type: ignore[no-untyped-def]
    def declare(method: str, path: str, summary: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return spec.route(
            routes, method, path, summary=summary, tag="webchat", prefix=PREFIX, **kwargs
        )

    return declare


def static_text(name: str) -> str:
    return resources.files("bot").joinpath(f"web/static/{name}").read_text(encoding="utf-8")


async def _socket(request: web.Request) -> web.StreamResponse:
    """Token in the query (browsers cannot set headers on a WebSocket); checked before upgrade."""
    visitor = _visitor(request, request.query.get("token"))
    settings = request.config_dict[keys.SETTINGS]
    if not origin_allowed(request, settings.webchat_allowed_origins):
        raise BadRequest("this site may not embed the chat (webchat_allowed_origins)", status=403)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=settings.max_request_bytes)
    await ws.prepare(request)
    bus = request.config_dict[keys.BUS]
    senders = _Senders.of(request)
    with bus.subscribe(thread_topic(CHANNEL, visitor.thread_id)) as deliveries:
        shown = ShownMessages()
        try:
            history = await _history(request, visitor)
        except Exception:
            log.exception("webchat history failed", extra={"visitor": visitor.visitor_id})
            await ws.send_json({"type": "error", "error": SERVER_ERROR})
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER)
            return ws
        for message in history.messages:
            shown.first_time(message.id)
        await ws.send_json({"type": "history", **history.model_dump()})
        typing = _TypingBeats(request, visitor)
        pusher = asyncio.create_task(_push(ws, deliveries, shown, request, visitor))
        stamps: list[datetime] = []
        opened_at = utcnow()
        beats = asyncio.create_task(_beat(request, visitor, stamps))
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    try:
                        reply = await _on_frame(
                            senders, visitor, request.remote, frame.data, typing
                        )
                    except Exception:  # the database, say: this frame fails, the socket stays
                        log.exception("webchat frame failed", extra={"visitor": visitor.visitor_id})
                        reply = {"type": "error", "error": SERVER_ERROR}
                    if reply is not None:
                        await ws.send_json(reply)
                elif frame.type == WSMsgType.BINARY:
                    await ws.send_json({"type": "error", "error": "send JSON text frames"})
        finally:
            for task in (pusher, beats):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await _left(request, visitor, stamps[-1] if stamps else None, opened_at)
    return ws


async def _beat(request: web.Request, visitor: Visitor, stamps: list[datetime]) -> None:
    """While the page is open the visitor is there: an agent's reply needs no email."""
    sessions = request.config_dict[keys.SESSIONS]
    while True:
        try:
            stamp = await mark_seen(sessions, visitor.visitor_id)
            stamps[:] = [stamp] if stamp else []
        except Exception as exc:  # the database is away: the chat goes on; at worst an email
            log.warning("visitor presence not recorded", extra={"error": str(exc)[:200]})
        await asyncio.sleep(SEEN_BEAT_S if stamps else FIRST_BEAT_S)


async def _left(
    request: web.Request, visitor: Visitor, stamp: datetime | None, opened_at: datetime
) -> None:
    try:
        await mark_left(request.config_dict[keys.SESSIONS], visitor.visitor_id, stamp, opened_at)
    except Exception as exc:
        log.warning("visitor leaving not recorded", extra={"error": str(exc)[:200]})


SERVER_ERROR = "the server could not handle that just now; send it again"
CATCH_UP_RETRY_S = 1.0


async def _push(
    ws: web.WebSocketResponse,
    deliveries: Subscription,
    shown: ShownMessages,
    request: web.Request,
    visitor: Visitor,
) -> None:
    """Replies as the bus announces them; after a gap in the bus, what the database holds
    that this socket has not shown (a reply published while no listener was subscribed)."""
    behind = False
    while not ws.closed:
        try:
            async with asyncio.timeout(CATCH_UP_RETRY_S if behind else None):
                event = await deliveries.queue.get()
        except TimeoutError:
            event = BusGap()
        if isinstance(event, BusGap) or deliveries.missed():
            behind = True
        if isinstance(event, AgentTyping):
            await ws.send_json({"type": "typing", "name": event.agent_name})
        if isinstance(event, MessageDelivered) and shown.first_time(event.message.id):
            visible = VisitorMessage.of(event.message).model_dump()
            await ws.send_json({"type": "message", "message": visible})
        if behind:
            behind = not await _catch_up(ws, shown, request, visitor)


async def _catch_up(
    ws: web.WebSocketResponse, shown: ShownMessages, request: web.Request, visitor: Visitor
) -> bool:
    try:
        missed = await _history(request, visitor, after=shown.last_id)
    except Exception as exc:  # the database is away too: try again shortly
        log.warning("webchat catch-up failed; retrying", extra={"error": str(exc)[:200]})
        return False
    for message in missed.messages:
        if message.direction == "out" and shown.first_time(message.id):
            await ws.send_json({"type": "message", "message": message.model_dump()})
    return True


class _TypingBeats:
    """The visitor is writing: the agent who has the chat sees it. One beat every few seconds
    at most reaches the bus, whatever the page sends."""

    def __init__(self, request: web.Request, visitor: Visitor) -> None:
        self._request = request
        self._visitor = visitor
        self._announced = self._looked = -TYPING_BEAT_S

    async def beat(self) -> None:
        """At most one announcement per TYPING_BEAT_S, and one look for the agent's chat per
        TYPING_LOOK_S however fast the page sends (a bot chat has nobody to show it to)."""
        now = time.monotonic()
        if now - self._announced < TYPING_BEAT_S or now - self._looked < TYPING_LOOK_S:
            return
        self._looked = now
        try:
            if await self._announce():
                self._announced = now
        except Exception as exc:  # a hint only: the customer must never see this fail
            log.warning("customer typing not announced", extra={"error": str(exc)[:200]})

    async def _announce(self) -> bool:
        config = self._request.config_dict
        async with config[keys.SESSIONS]() as session:
            conversation_id = await session.scalar(
                select(Conversation.id)
                .where(
                    Conversation.channel == CHANNEL,
                    Conversation.external_thread == self._visitor.thread_id,
                    Conversation.state == ConversationState.AGENT,
                )
                .order_by(Conversation.id.desc())
                .limit(1)
            )
        if conversation_id is None:
            return False
        await config[keys.BUS].publish(AGENTS_TOPIC, CustomerTyping(conversation_id))
        return True


TYPING_BEAT_S = 2.5
TYPING_LOOK_S = 0.5


async def _on_frame(
    senders: _Senders, visitor: Visitor, address: str | None, data: str, typing: _TypingBeats
) -> dict[str, Any] | None:
    """Handle one client frame; bad frames get an error frame and the socket stays open."""
    try:
        payload = parse_json(data, "the frame")
    except BadRequest as exc:
        return {"type": "error", "error": str(exc)}
    if isinstance(payload, dict) and payload.get("type") == "typing":
        await typing.beat()
        return None
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return {
            "type": "error",
            "error": 'expected {"type": "message", "text": …} or {"type": "typing"}',
        }
    try:
        await senders.throttle(visitor, address)
    except RateLimited as exc:
        return {"type": "error", "error": str(exc), "retry_after": int(exc.retry_after) + 1}
    try:
        body = SendRequest.model_validate({k: v for k, v in payload.items() if k != "type"})
        result = await senders.engine.receive(_inbound(visitor, body.text, body.client_message_id))
    except ValidationError as exc:
        return {"type": "error", "error": exc.errors()[0]["msg"]}
    except InvalidMessage as exc:
        return {"type": "error", "error": str(exc)}
    return {
        "type": "ack",
        "client_message_id": body.client_message_id,
        "message_id": result.message_id,
        "duplicate": result.duplicate,
        "state": result.state,
    }
