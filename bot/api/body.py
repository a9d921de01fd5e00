"""Reading a JSON request body into a pydantic model, with a clear error for each failure."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from bot import keys
from bot.api.errors import BadRequest

M = TypeVar("M", bound=BaseModel)


async def read_model(request: web.Request, model: type[M], max_bytes: int | None = None) -> M:
    """Parse the body; public endpoints get the small default limit, imports a larger one."""
    limit = max_bytes or request.config_dict[keys.SETTINGS].max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(f"the request body is over the {limit}-byte limit", status=413)
    raw = await request.read()
    if len(raw) > limit:
        raise BadRequest(f"the request body is over the {limit}-byte limit", status=413)
    if not raw.strip():
        raise BadRequest("the request body is empty; send a JSON object")
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    if b"\\u0000" in raw and _has_nul(data):
        # PostgreSQL text cannot hold U+0000; say so instead of failing at the INSERT.
        raise BadRequest("the request body contains a NUL character (\\u0000) in a string")
    return model.model_validate(data)


def _has_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_has_nul(item) for item in data)
    return False


def parse_json(raw: bytes | str, what: str = "the request body") -> Any:
    """JSON from an untrusted peer, or BadRequest saying what is wrong with it."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{what} is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise BadRequest(f"{what} is not JSON: {exc.msg.removesuffix(' at')} ({where})") from None
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    except ValueError:  # Python refuses integers of more than 4,300 digits
        raise BadRequest(f"{what} has a number too long to read") from None
    if "\\u" in text and _has_lone_surrogate(data):
        raise BadRequest(f"{what} contains a lone UTF-16 surrogate escape (\\ud800-\\udfff)")
    return data


def _has_lone_surrogate(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
