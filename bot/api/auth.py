"""Bearer-token checks for the admin API (accounts and roles come with the console)."""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.api.errors import BadRequest


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_admin(request: web.Request, admin_token: str) -> str:
    """Return the actor name for the audit log, or refuse with 401."""
    token = bearer_token(request)
    if token is None or not hmac.compare_digest(token.encode(), admin_token.encode()):
        raise BadRequest("admin token missing or wrong (Authorization: Bearer …)", status=401)
    return "admin-api"


def admin(request: web.Request) -> str:
    """require_admin with the token this app is configured with."""
    from bot import keys

    return require_admin(request, request.config_dict[keys.SETTINGS].admin_token)


def path_int(request: web.Request, name: str = "id") -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise BadRequest(f"the {name} in the path must be an integer") from None
