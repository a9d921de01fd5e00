"""Read access to conversations: admins see all, agents their own and their teams' queue."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import or_, select

from bot import keys
from bot.api.auth import path_int, staff, visible_conversation
from bot.api.errors import BadRequest
from bot.api.openapi import ApiSpec
from bot.api.schemas import MessageOut
from bot.events import MessageView
from models import Conversation, ConversationState, Message

PREFIX = "/api"
LIST_LIMIT = 200


class ConversationOut(BaseModel):
    id: int
    customer_id: int
    channel: str
    state: str
    language: str
    priority: int
    team: str | None
    escalation_reason: str | None
    assigned_agent_id: int | None
    created_at: str
    updated_at: str
    escalated_at: str | None


class ConversationList(BaseModel):
    conversations: list[ConversationOut]


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


def _out(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "customer_id": c.customer_id,
        "channel": c.channel,
        "state": c.state,
        "language": c.language,
        "priority": c.priority,
        "team": c.team,
        "escalation_reason": c.escalation_reason,
        "assigned_agent_id": c.assigned_agent_id,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
        "escalated_at": c.escalated_at.isoformat() if c.escalated_at else None,
    }


def add_conversation_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "conversations", PREFIX, auth="adminToken")

    @api(
        "GET",
        "/conversations",
        "Conversations, newest first (filter by state)",
        response=ConversationList,
        query=(("state", "string"), ("assigned", "string")),
    )
    async def list_conversations(request: web.Request) -> web.Response:
        who = staff(request)
        statement = select(Conversation).order_by(Conversation.id.desc()).limit(LIST_LIMIT)
        if not who.is_admin:
            statement = statement.where(
                or_(
                    Conversation.assigned_agent_id == who.agent_id,
                    (Conversation.assigned_agent_id.is_(None))
                    & Conversation.team.in_(list(who.teams)),
                )
            )
        if request.query.get("assigned") == "me":
            statement = statement.where(Conversation.assigned_agent_id == who.agent_id)
        state = request.query.get("state")
        if state is not None:
            if state not in {s.value for s in ConversationState}:
                raise BadRequest(f"state must be one of {[s.value for s in ConversationState]}")
            statement = statement.where(Conversation.state == state)
        async with request.config_dict[keys.SESSIONS]() as session:
            rows = (await session.scalars(statement)).all()
        return web.json_response({"conversations": [_out(c) for c in rows]})

    @api(
        "GET",
        "/conversations/{id}",
        "One conversation with its messages",
        response=ConversationDetail,
    )
    async def get_conversation(request: web.Request) -> web.Response:
        conversation_id = path_int(request)
        conversation = await visible_conversation(request, staff(request), conversation_id)
        async with request.config_dict[keys.SESSIONS]() as session:
            messages = (
                await session.scalars(
                    select(Message)
                    .where(Message.conversation_id == conversation_id)
                    .order_by(Message.id)
                )
            ).all()
        body = _out(conversation)
        body["messages"] = [MessageView.of(m).to_json() for m in messages]
        return web.json_response(body)
