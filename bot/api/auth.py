"""Who may call what: the admin bearer token (scripts) or a signed-in user's session (browsers)."""

from __future__ import annotations

import hmac

from aiohttp import web

from bot import keys
from bot.accounts.principal import API_TOKEN_PRINCIPAL, Principal
from bot.api.errors import BadRequest
from bot.api.ids import parse_id
from models import Conversation

PRINCIPAL_KEY = web.RequestKey("principal", Principal)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal(request: web.Request) -> Principal | None:
    """The caller: the API token if one is presented (and right), else the session's user."""
    token = bearer_token(request)
    if token is not None:
        expected = request.config_dict[keys.SETTINGS].admin_token
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise BadRequest("admin token wrong (Authorization: Bearer …)", status=401)
        return API_TOKEN_PRINCIPAL
    return request.get(PRINCIPAL_KEY)


def staff(request: web.Request) -> Principal:
    """Any signed-in agent or admin, or the API token; else 401."""
    who = principal(request)
    if who is None:
        raise BadRequest("sign in, or send the admin token (Authorization: Bearer …)", status=401)
    return who


def admin(request: web.Request) -> str:
    """An admin; returns the actor name for the audit log. Agents get 403."""
    who = staff(request)
    if not who.is_admin:
        raise BadRequest("this needs the admin role", status=403)
    return who.email


async def visible_conversation(
    request: web.Request, who: Principal, conversation_id: int
) -> Conversation:
    """404 for a conversation that is missing or outside the caller's role (no existence leak)."""
    async with request.config_dict[keys.SESSIONS]() as session:
        conversation = await session.get(Conversation, conversation_id)
    if conversation is None or not who.can_see(conversation):
        raise BadRequest(f"no conversation {conversation_id}", status=404)
    return conversation


def acting_agent(who: Principal, named: int | None) -> int:
    """The agent an action is done as: the signed-in user, or the one the API token names."""
    if who.agent_id is None:
        if named is None:
            raise BadRequest("agent_id is required with the admin token", status=422)
        return named
    if named is not None and named != who.agent_id and not who.is_admin:
        raise BadRequest("agents act only as themselves", status=403)
    return named if named is not None else who.agent_id


def path_int(request: web.Request, name: str = "id") -> int:
    """Every route with an id in its path reads it here."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(f"the {name} in the path must be an integer")
    value = parse_id(raw)
    if value is None:  # in form, but no row can have it
        raise BadRequest(f"nothing has {name} {raw[:20]}", status=404)
    return value
