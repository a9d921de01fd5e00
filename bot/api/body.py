"""Reading a JSON request body into a pydantic model, with a clear error for each failure."""

from __future__ import annotations

import json
from typing import TypeVar

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
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the request body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return model.model_validate(data)
