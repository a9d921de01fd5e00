"""The console's live feed: queue changes and the open conversation's messages, per role.

A socket learns only that a conversation it may see changed (then the page asks the API,
which applies the same role rules) and the messages of the one conversation it watches.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from bot import keys
from bot.accounts.principal import Principal
from bot.api.auth import PRINCIPAL_KEY
from bot.api.body import parse_json
from bot.api.errors import BadRequest
from bot.api.ids import parse_id
from bot.bus import Subscription
from bot.events import AGENTS_TOPIC, ConversationChanged, MessageCreated
from models import Conversation

MAX_FRAME_BYTES = 4096


class _Feed:
    def __init__(self, request: web.Request, who: Principal, ws: web.WebSocketResponse) -> None:
        self._request = request
        self._who = who
        self._ws = ws
        self.watching: int | None = None

    async def visible(self, conversation_id: int) -> bool:
        async with self._request.config_dict[keys.SESSIONS]() as session:
            conversation = await session.get(Conversation, conversation_id)
        return conversation is not None and self._who.can_see(conversation)

    async def push(self, subscription: Subscription) -> None:
        while not self._ws.closed:
            event = await subscription.queue.get()
            if isinstance(event, ConversationChanged):
                if not await self.visible(event.conversation_id):
                    if self.watching == event.conversation_id:
                        self.watching = None
                    continue
                await self._ws.send_json(
                    {
                        "type": event.name,
                        "conversation_id": event.conversation_id,
                        "state": event.state,
                    }
                )
            elif (
                isinstance(event, MessageCreated) and event.message.conversation_id == self.watching
            ):
                await self._ws.send_json(event.to_json())

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
            await self._ws.send_json({"type": "watching", "conversation_id": conversation_id})
        else:
            await self._ws.send_json(
                {"type": "error", "error": f"no conversation {conversation_id}"}
            )


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
    with request.config_dict[keys.BUS].subscribe(AGENTS_TOPIC) as subscription:
        pusher = asyncio.create_task(feed.push(subscription))
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await feed.on_frame(frame.data)
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
    return ws
