"""Every failure becomes a JSON answer with a clear message; unexpected ones are logged."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from bot.accounts.users import AccountError
from bot.engine import ConversationNotFound
from bot.nlu.service import NluNotReady
from bot.rate_limits import RateLimited
from bot.states import StateConflict
from channels.base import InvalidMessage
from escalation.queue import AgentUnavailable
from knowledge.errors import KnowledgeError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, details: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


def error_response(status: int, message: str, details: object = None) -> web.Response:
    body: dict[str, object] = {"error": message}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status)


def _validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
        for err in exc.errors()
    ]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if "\x00" in request.query_string or "%00" in request.raw_path.partition("?")[2]:
        # PostgreSQL text cannot hold U+0000: a search for it would fail at the database.
        return error_response(400, "the query string contains a NUL character (%00)")
    try:
        return await handler(request)
    except BadRequest as exc:
        return error_response(exc.status, str(exc), exc.details)
    except RateLimited as exc:
        response = error_response(429, str(exc))
        response.headers["Retry-After"] = str(int(exc.retry_after) + 1)
        return response
    except ValidationError as exc:
        return error_response(422, "the request body is not valid", _validation_details(exc))
    except InvalidMessage as exc:
        return error_response(422, str(exc))
    except (KnowledgeError, StateConflict, ConversationNotFound, AgentUnavailable) as exc:
        return error_response(exc.status, str(exc))
    except AccountError as exc:
        return error_response(exc.status, str(exc))
    except NluNotReady as exc:
        return error_response(503, str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return error_response(exc.status, exc.reason)
        raise
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal error; it has been logged")
