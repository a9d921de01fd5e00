"""The console's live feed: queue changes and the open conversation's messages, per role.

A socket learns only that a conversation it may see changed (then the page asks the API,
which applies the same role rules) and the messages of the one conversation it watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bot import keys
from bot.accounts.login_sessions import LoginSessions
from bot.accounts.principal import Principal
from bot.api.auth import PRINCIPAL_KEY
from bot.api.body import parse_json
from bot.api.errors import BadRequest
from bot.api.ids import parse_id
from bot.bus import BusGap, Subscription
from bot.events import (
    AGENTS_TOPIC,
    ConversationChanged,
    CustomerTyping,
    Event,
    MessageCreated,
    MessageView,
)
from bot.shown_messages import ShownMessages
from bot.web.signin import SESSION_COOKIE
from models import Conversation, ConversationState, Message

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 4096
SESSION_RECHECK_S = 2.0
"""How soon a socket closes after its user signs out, is deactivated or has a password reset
(the session is checked in the database, so this holds across processes)."""
CATCH_UP_RETRY_S = 1.0
CATCH_UP_LIMIT = 200
SERVER_ERROR = "the server could not handle that just now; try again"


class _Feed:
    def __init__(self, request: web.Request, who: Principal, ws: web.WebSocketResponse) -> None:
        self._request = request
        self.who = who
        self._ws = ws
        self.watching: int | None = None
        self.mine: set[int] = set()
        """The agent's own open chats: a customer's message in one of them is announced."""
        self._shown = ShownMessages()
        """The watched conversation's messages this socket has shown."""

    async def visible(self, conversation_id: int) -> bool:
        async with self._request.config_dict[keys.SESSIONS]() as session:
            conversation = await session.get(Conversation, conversation_id)
        return conversation is not None and self.who.can_see(conversation)

    async def _load_mine(self) -> None:
        if self.who.agent_id is None:
            return
        async with self._request.config_dict[keys.SESSIONS]() as session:
            rows = await session.scalars(
                select(Conversation.id).where(
                    Conversation.assigned_agent_id == self.who.agent_id,
                    Conversation.state == ConversationState.AGENT,
                )
            )
            self.mine = set(rows.all())

    async def push(self, subscription: Subscription) -> None:
        behind = False
        await self._load_mine()
        while not self._ws.closed:
            try:
                async with asyncio.timeout(CATCH_UP_RETRY_S if behind else None):
                    event = await subscription.queue.get()
            except TimeoutError:
                event = BusGap()
            if isinstance(event, BusGap) or subscription.missed():
                behind = True
            try:
                await self._show(event)
                if behind:
                    await self._catch_up()
                    behind = False
            except SQLAlchemyError as exc:  # the database is away: catch up when it is back
                log.warning("console feed failed; catching up later", extra={"error": str(exc)})
                behind = True

    async def _show(self, event: Event) -> None:
        if isinstance(event, ConversationChanged):
            if not await self.visible(event.conversation_id):
                if self.watching == event.conversation_id:
                    self.watching = None
                return
            await self._load_mine()
            await self._ws.send_json(
                {
                    "type": event.name,
                    "conversation_id": event.conversation_id,
                    "state": event.state,
                    "previous_state": event.previous_state,
                    "reason": event.reason,
                }
            )
        elif isinstance(event, MessageCreated) and event.message.conversation_id == self.watching:
            if self._shown.first_time(event.message.id):
                await self._ws.send_json(event.to_json())
        elif isinstance(event, MessageCreated):
            message = event.message
            if message.sender_kind == "customer" and message.conversation_id in self.mine:
                await self._ws.send_json(
                    {"type": "customer_wrote", "conversation_id": message.conversation_id}
                )
        elif isinstance(event, CustomerTyping) and event.conversation_id == self.watching:
            await self._ws.send_json(event.to_json())

    async def _catch_up(self) -> None:
        """After a gap in the bus: the watched conversation's messages this socket missed."""
        watching = self.watching
        if watching is None:
            return
        async with self._request.config_dict[keys.SESSIONS]() as session:
            missed = (
                await session.scalars(
                    select(Message)
                    .where(Message.conversation_id == watching, Message.id > self._shown.last_id)
                    .order_by(Message.id)
                    .limit(CATCH_UP_LIMIT)
                )
            ).all()
        for message in missed:
            await self._show(MessageCreated(MessageView.of(message)))

    async def on_frame(self, data: str) -> None:
        try:
            payload = parse_json(data, "the frame")
            conversation_id = parse_id(payload["watch"])
        except (BadRequest, KeyError, TypeError):
            conversation_id = None
        if conversation_id is None:
            await self._ws.send_json({"type": "error", "error": 'expected {"watch": <id>}'})
            return
        if await self.visible(conversation_id):
            self.watching = conversation_id
            self._shown.start_after(await self._newest(conversation_id))
            await self._ws.send_json({"type": "watching", "conversation_id": conversation_id})
        else:
            await self._ws.send_json(
                {"type": "error", "error": f"no conversation {conversation_id}"}
            )

    async def _newest(self, conversation_id: int) -> int:
        """The page loads the conversation itself when it starts watching; new ones follow."""
        async with self._request.config_dict[keys.SESSIONS]() as session:
            newest = await session.scalar(
                select(func.max(Message.id)).where(Message.conversation_id == conversation_id)
            )
        return int(newest or 0)


async def _end_with_the_session(
    logins: LoginSessions, feed: _Feed, ws: web.WebSocketResponse, token: str
) -> None:
    """Close the socket once its session has ended; follow role and team changes meanwhile."""
    while not ws.closed:
        await asyncio.sleep(SESSION_RECHECK_S)
        try:
            who = await logins.principal(token)
        except (SQLAlchemyError, OSError):  # a database hiccup is no sign-out: check again
            log.warning("console socket session check failed", exc_info=True)
            continue
        if who is None:
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"signed out")
            return
        feed.who = who


def _same_origin(request: web.Request) -> bool:
    """Browsers send Origin on WebSocket upgrades; another site's page must not ride our cookie."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


async def console_socket(request: web.Request) -> web.StreamResponse:
    who: Principal | None = request.get(PRINCIPAL_KEY)
    if who is None:
        raise BadRequest("sign in first", status=401)
    if not _same_origin(request):
        raise BadRequest("cross-site WebSocket refused", status=403)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    feed = _Feed(request, who, ws)
    token = request.cookies.get(SESSION_COOKIE, "")
    with request.config_dict[keys.BUS].subscribe(AGENTS_TOPIC) as subscription:
        helpers = [
            asyncio.create_task(feed.push(subscription)),
            asyncio.create_task(
                _end_with_the_session(request.config_dict[keys.LOGINS], feed, ws, token)
            ),
        ]
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    try:
                        await feed.on_frame(frame.data)
                    except Exception:  # the database, say: this frame fails, the socket stays
                        log.exception("console frame failed")
                        await ws.send_json({"type": "error", "error": SERVER_ERROR})
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return ws
