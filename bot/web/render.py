"""Server-rendered pages: Jinja2 with autoescaping on, so customer-written text is always text."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from bot import keys
from bot.api.auth import PRINCIPAL_KEY


def template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot", "web/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    request: web.Request, name: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    who = request.get(PRINCIPAL_KEY)
    page = request.config_dict[keys.TEMPLATES].get_template(name)
    html = page.render(me=who, csrf=who.csrf_token if who else "", path=request.path, **context)
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
