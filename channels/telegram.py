"""Telegram through python-telegram-bot: webhook (secret-token checked) or long polling in,
sendMessage out. Private chats with text; each chat is one conversation thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import warnings
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from telegram import Bot, Chat, Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest as TelegramBadRequest
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning

from bot import keys
from bot.api.body import parse_json
from bot.api.errors import BadRequest
from bot.engine import ConversationEngine
from bot.rate_limits import count_failure, refuse_repeat_failures
from channels.base import (
    DeliveryError,
    DeliveryTarget,
    InboundMessage,
    InvalidMessage,
    OutboundText,
    fit_text,
)
from channels.faults import is_temporary

log = logging.getLogger(__name__)
# PTB 22 asks to opt in to timedelta retry_after before it becomes the default; _seconds takes both.
os.environ.setdefault("PTB_TIMEDELTA", "1")
# poll() calls getUpdates raw on purpose (see there); PTB warns that get_updates exists.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 256 * 1024
START = "/start"
POLL_READ_MARGIN_S = 10


def make_bot(token: str, api_url: str) -> Bot:
    """`api_url`: Telegram's, or a local Bot API server (or a test double) speaking its API."""
    # PTB's default pool is one connection; the outbox sends several replies at once.
    return Bot(
        token,
        base_url=f"{api_url.rstrip('/')}/bot",
        request=HTTPXRequest(connection_pool_size=8),
    )


class MalformedUpdate(ValueError):
    """An update with the right secret that deskbot cannot read: skipped and logged (the same
    update would fail the same way on every redelivery)."""


def inbound_from_update(update: Update, max_chars: int) -> InboundMessage | None:
    """A private text message as deskbot's InboundMessage; anything else is not for the bot.
    A text over `max_chars` is kept cut to fit and flagged (Telegram cannot be told)."""
    message = update.message
    if message is None:
        return None
    if not isinstance(message, Message) or not isinstance(message.chat, Chat):
        raise MalformedUpdate("message or chat is not an object")
    if message.chat.type != ChatType.PRIVATE or not message.text:
        return None
    sender = message.from_user
    if not isinstance(message.text, str):
        raise MalformedUpdate("text is not a string")
    if not _is_int(message.chat.id) or not _is_int(message.message_id):
        raise MalformedUpdate("chat.id or message_id is not an integer")
    if sender is not None and not _is_int(sender.id):
        raise MalformedUpdate("from.id is not an integer")
    text, full_length = fit_text(message.text, max_chars)
    words = text.split(maxsplit=1)
    if words and words[0].split("@")[0] == START:
        text = "hello"  # Telegram's "open the chat" command: greet like any first hello
    return InboundMessage(
        channel=CHANNEL,
        external_user=str(sender.id if sender else message.chat.id),
        external_thread=str(message.chat.id),
        external_id=f"{message.chat.id}:{message.message_id}",
        text=text,
        sent_at=message.date,
        display_name=sender.full_name if sender else None,
        meta={} if full_length is None else {"truncated_from": str(full_length)},
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class TelegramOutput:
    name = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        try:
            await self._bot.send_message(chat_id=int(target.external_thread), text=message.text)
        except RetryAfter as exc:
            raise DeliveryError(
                "telegram rate limit", retry_after=_seconds(exc.retry_after)
            ) from None
        except Forbidden as exc:
            raise DeliveryError(f"telegram refused (the user blocked the bot?): {exc}") from None
        except TelegramError as exc:
            # BadRequest is a NetworkError in PTB, but it is about this message, not Telegram
            unreachable = isinstance(exc, NetworkError) and not isinstance(exc, TelegramBadRequest)
            raise DeliveryError(f"telegram: {exc}", outage=unreachable) from None


class TelegramReceiver:
    """Turns updates into engine calls; the same path for the webhook and for polling."""

    def __init__(self, bot: Bot, engine: ConversationEngine) -> None:
        self._bot = bot
        self._engine = engine
        self._typing: set[asyncio.Task[None]] = set()

    async def handle(self, data: object) -> str:
        """What became of one update: accepted, duplicate, ignored, empty, malformed or failed
        (logged, never retried). A fault that is not the update's (the database is down)
        raises, so it is delivered again."""
        if not isinstance(data, dict) or not _is_int(data.get("update_id")):
            raise BadRequest("not a Telegram update (no update_id)")
        update_id = data["update_id"]
        try:
            inbound = inbound_from_update(
                Update.de_json(data, self._bot), self._engine.max_message_chars
            )
        except (TypeError, KeyError, ValueError, AttributeError, OverflowError, OSError) as exc:
            log.warning(
                "malformed telegram update skipped",
                extra={"update_id": update_id, "error": repr(exc)},
            )
            return "malformed"
        if inbound is None:
            return "ignored"
        try:
            self._show_typing(int(inbound.external_thread))
            result = await self._engine.receive(inbound)
        except InvalidMessage as exc:
            log.info("telegram message without text dropped", extra={"error": str(exc)})
            return "empty"
        except Exception as exc:
            if is_temporary(exc):
                raise
            log.exception(
                "telegram update could not be taken; skipped", extra={"update_id": update_id}
            )
            return "failed"
        return "duplicate" if result.duplicate else "accepted"

    def _show_typing(self, chat_id: int) -> None:
        async def typing() -> None:
            with contextlib.suppress(TelegramError):
                await self._bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING)

        task = asyncio.create_task(typing())
        self._typing.add(task)
        task.add_done_callback(self._typing.discard)

    async def poll(self, timeout_s: int) -> None:
        """Long polling for bots without a public URL; an update is confirmed (offset) only
        after the engine stored it, so a crash means redelivery, and the engine dedupes."""
        await self._bot.delete_webhook()
        offset: int | None = None
        while True:
            try:
                # Raw updates, not PTB's objects: one PTB cannot build would fail the whole
                # batch before its update_id is known, and be fetched again forever.
                updates = await self._bot.do_api_request(
                    "getUpdates",
                    api_kwargs={
                        "offset": offset,
                        "timeout": timeout_s,
                        "allowed_updates": ["message"],
                    },
                    read_timeout=timeout_s + POLL_READ_MARGIN_S,
                )
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except TelegramError as exc:
                log.warning("telegram polling failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(2)
                continue
            for data in updates if isinstance(updates, list) else []:
                update_id = data.get("update_id") if isinstance(data, dict) else None
                if not _is_int(update_id):
                    log.warning("telegram sent an update without an update_id; skipped")
                    continue
                try:
                    await self.handle(data)
                except Exception:  # temporary (handle() set aside the rest): retry it later
                    log.exception(
                        "telegram update failed; retrying", extra={"update_id": update_id}
                    )
                    await asyncio.sleep(2)
                    break
                offset = max(offset or 0, update_id + 1)


RECEIVER = web.AppKey("telegram_receiver", TelegramReceiver)


async def webhook(request: web.Request) -> web.Response:
    settings = request.config_dict[keys.SETTINGS]
    limiter = request.config_dict[keys.RATE_LIMITER]
    failures = f"webhook-fail:telegram:{request.remote}"
    await refuse_repeat_failures(limiter, failures, settings.rate_webhook_failures_per_ip_min)
    presented = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(presented.encode(), settings.telegram_webhook_secret.encode()):
        await count_failure(limiter, failures, settings.rate_webhook_failures_per_ip_min)
        raise BadRequest("telegram secret token missing or wrong", status=401)
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        raise BadRequest("update too large", status=413)
    raw = await request.content.read(MAX_UPDATE_BYTES + 1)
    if len(raw) > MAX_UPDATE_BYTES:
        raise BadRequest("update too large", status=413)
    data = parse_json(raw, "the update")
    outcome = await request.app[RECEIVER].handle(data)
    return web.json_response({"ok": True, "result": outcome})


@contextlib.asynccontextmanager
async def telegram_running(
    bot: Bot, receiver: TelegramReceiver, mode: str, poll_timeout_s: int
) -> AsyncIterator[None]:
    """The bot's HTTP client for the app's lifetime, and the polling loop in polling mode."""
    try:
        await bot.initialize()
    except TelegramError as exc:  # Telegram unreachable now: replies wait in the outbox
        log.error("telegram getMe failed; will keep trying on each send", extra={"error": str(exc)})
    poller = asyncio.create_task(receiver.poll(poll_timeout_s)) if mode == "polling" else None
    try:
        yield
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        await bot.shutdown()


def build_telegram(receiver: TelegramReceiver) -> web.Application:
    app = web.Application()
    app[RECEIVER] = receiver
    app.router.add_post("/webhook", webhook)
    return app


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
