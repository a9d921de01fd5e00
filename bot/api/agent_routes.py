"""Agent work over the API: the queue, claim, reply, hand back, resolve, escalation settings.

Signed-in agents act as themselves on the conversations their role lets them see; the admin
token (scripts) names the agent it acts for.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bot import keys
from bot.api.auth import acting_agent, admin, path_int, staff, visible_conversation
from bot.api.body import read_model
from bot.api.errors import BadRequest
from bot.api.ids import RowId
from bot.api.openapi import ApiSpec
from channels.webchat_settings import WebchatUpdate, WebchatView
from escalation.assignment import AssignmentUpdate, AssignmentView
from escalation.hours_store import HoursUpdate, HoursView
from escalation.policy_store import PolicyStore, PolicyUpdate, PolicyView
from escalation.presence import presence_of
from models import Agent, AgentRole
from models.base import utcnow

PREFIX = "/api"
Team = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class AgentAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: RowId | None = None


class AgentReply(AgentAction):
    text: str


class Transfer(AgentAction):
    to_agent_id: RowId | None = Field(default=None, description="A colleague who takes it now")
    to_team: Team | None = Field(default=None, description="Or a team, whose queue it goes to")
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


Password = Annotated[str, StringConstraints(min_length=10, max_length=1024)]
Role = Annotated[str, StringConstraints(pattern=r"^(agent|admin)$")]
Status = Annotated[str, StringConstraints(pattern=r"^(online|away|offline)$")]


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    role: Role = "agent"
    password: Password | None = Field(default=None, description="Without one, no sign-in.")
    teams: list[Team] = Field(default_factory=lambda: ["support"], max_length=20)
    max_concurrent: int = Field(default=3, ge=1, le=50)
    status: Status = "offline"


class AgentPatch(BaseModel):
    """Every field optional: a change names what it changes."""

    model_config = ConfigDict(extra="forbid")
    status: Status | None = None
    role: Role | None = None
    teams: list[Team] | None = Field(default=None, min_length=1, max_length=20)
    max_concurrent: int | None = Field(default=None, ge=1, le=50)
    active: bool | None = None
    password: Password | None = None


class AgentOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    active: bool
    can_sign_in: bool
    teams: list[str]
    max_concurrent: int
    status: str
    """Their choice: online, away or offline."""
    presence: str
    """What the queue counts: online only while a staff page of theirs is open and in use."""


class AgentList(BaseModel):
    agents: list[AgentOut]


class QueueEntryOut(BaseModel):
    conversation_id: int
    channel: str
    team: str | None
    priority: int
    effective_priority: float
    waiting_s: float
    reason: str | None
    first_response_due_at: str | None
    breached: bool


class QueueOut(BaseModel):
    waiting: list[QueueEntryOut]


class NextOut(BaseModel):
    conversation_id: int | None


def _agent_out(request: web.Request, agent: Agent) -> dict[str, Any]:
    idle_s = request.config_dict[keys.SETTINGS].agent_idle_s
    return AgentOut(
        id=agent.id,
        email=agent.email,
        name=agent.name,
        role=agent.role,
        active=agent.active,
        can_sign_in=agent.active and agent.password_hash is not None,
        teams=agent.teams,
        max_concurrent=agent.max_concurrent,
        status=agent.status,
        presence=presence_of(agent, utcnow(), idle_s).value,
    ).model_dump()


async def _update(request: web.Request, store: Any, change_model: type[BaseModel]) -> Any:
    """An admin's runtime-settings change: validated, applied, audited; refusals are 422."""
    actor = admin(request)
    change = await read_model(request, change_model)
    try:
        return await store.update(change, actor)
    except ValueError as exc:
        raise BadRequest(str(exc), status=422) from None


def add_agent_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "agents", PREFIX, auth="adminToken")

    @api(
        "GET",
        "/queue",
        "Conversations waiting for a person, most urgent first",
        response=QueueOut,
        query=(("team", "string"),),
    )
    async def queue(request: web.Request) -> web.Response:
        who = staff(request)
        teams = None if who.is_admin else who.teams
        entries = await request.config_dict[keys.QUEUE].entries(request.query.get("team"), teams)
        waiting = [
            QueueEntryOut(
                conversation_id=e.conversation_id,
                channel=e.channel,
                team=e.team,
                priority=e.priority,
                effective_priority=e.effective_priority,
                waiting_s=round(e.waiting_s, 1),
                reason=e.reason,
                breached=e.breached,
                first_response_due_at=e.first_response_due_at.isoformat()
                if e.first_response_due_at
                else None,
            )
            for e in entries
        ]
        return web.json_response(QueueOut(waiting=waiting).model_dump())

    @api(
        "POST",
        "/conversations/{id}/claim",
        "Take a conversation over (the bot goes silent)",
        body=AgentAction,
    )
    async def claim(request: web.Request) -> web.Response:
        who = staff(request)
        body = await read_model(request, AgentAction)
        conversation_id = path_int(request)
        await visible_conversation(request, who, conversation_id)
        agent_id = acting_agent(who, body.agent_id)
        await request.config_dict[keys.ENGINE].claim(conversation_id, agent_id)
        return web.json_response({"conversation_id": conversation_id, "state": "agent"})

    @api(
        "POST",
        "/conversations/{id}/reply",
        "Reply as the agent, through the customer's channel",
        body=AgentReply,
    )
    async def reply(request: web.Request) -> web.Response:
        who = staff(request)
        body = await read_model(request, AgentReply)
        await visible_conversation(request, who, path_int(request))
        view = await request.config_dict[keys.ENGINE].agent_reply(
            path_int(request), acting_agent(who, body.agent_id), body.text
        )
        return web.json_response(view.to_json())

    @api(
        "POST",
        "/conversations/{id}/transfer",
        "Hand my chat to a colleague or a team, with a note",
        body=Transfer,
    )
    async def transfer(request: web.Request) -> web.Response:
        who = staff(request)
        body = await read_model(request, Transfer)
        if (body.to_agent_id is None) == (body.to_team is None):
            raise BadRequest("give either to_agent_id or to_team", status=422)
        await visible_conversation(request, who, path_int(request))
        state = await request.config_dict[keys.ENGINE].transfer(
            path_int(request),
            acting_agent(who, body.agent_id),
            to_agent_id=body.to_agent_id,
            to_team=body.to_team,
            note=body.note,
        )
        return web.json_response({"conversation_id": path_int(request), "state": state.value})

    @api(
        "POST",
        "/conversations/{id}/typing",
        "I am writing a reply: the customer's chat shows it for a few seconds",
        body=AgentAction,
    )
    async def typing(request: web.Request) -> web.Response:
        who = staff(request)
        body = await read_model(request, AgentAction)
        await visible_conversation(request, who, path_int(request))
        shown = await request.config_dict[keys.ENGINE].agent_typing(
            path_int(request), acting_agent(who, body.agent_id)
        )
        if not shown:
            raise BadRequest("this conversation is not yours to answer now", status=409)
        return web.json_response({"conversation_id": path_int(request), "shown": True})

    @api(
        "POST",
        "/conversations/{id}/handback",
        "Give the conversation back to the bot",
        body=AgentAction,
    )
    async def hand_back(request: web.Request) -> web.Response:
        who = staff(request)
        body = await read_model(request, AgentAction)
        await visible_conversation(request, who, path_int(request))
        await request.config_dict[keys.ENGINE].hand_back(
            path_int(request), acting_agent(who, body.agent_id)
        )
        return web.json_response({"conversation_id": path_int(request), "state": "bot"})

    @api("POST", "/conversations/{id}/resolve", "Mark the conversation resolved", body=AgentAction)
    async def resolve(request: web.Request) -> web.Response:
        who = staff(request)
        body = await read_model(request, AgentAction)
        await visible_conversation(request, who, path_int(request))
        if who.agent_id is None and body.agent_id is None:
            actor = who.email
        else:
            actor = f"agent {acting_agent(who, body.agent_id)}"
        await request.config_dict[keys.ENGINE].resolve(path_int(request), actor)
        return web.json_response({"conversation_id": path_int(request), "state": "resolved"})

    @api("GET", "/agents", "Everyone who works in deskbot", response=AgentList)
    async def list_agents(request: web.Request) -> web.Response:
        admin(request)
        agents = await request.config_dict[keys.USERS].list()
        return web.json_response({"agents": [_agent_out(request, a) for a in agents]})

    @api("GET", "/colleagues", "Who a chat can be handed to: active users, their teams, presence")
    async def colleagues(request: web.Request) -> web.Response:
        staff(request)
        idle_s = request.config_dict[keys.SETTINGS].agent_idle_s
        now = utcnow()
        people = [
            {
                "id": a.id,
                "name": a.name,
                "teams": a.teams,
                "presence": presence_of(a, now, idle_s).value,
            }
            for a in await request.config_dict[keys.USERS].list()
            if a.active
        ]
        teams = sorted({t for p in people for t in p["teams"]})
        return web.json_response({"colleagues": people, "teams": teams})

    @api("POST", "/agents", "Add an agent or admin", body=AgentCreate, response=AgentOut)
    async def create_agent(request: web.Request) -> web.Response:
        actor = admin(request)
        body = await read_model(request, AgentCreate)
        users = request.config_dict[keys.USERS]
        agent = await users.add(
            body.email,
            body.name,
            AgentRole(body.role),
            body.password,
            actor,
            body.teams,
            max_concurrent=body.max_concurrent,
            status=body.status,
        )
        return web.json_response(_agent_out(request, agent), status=201)

    @api(
        "PATCH",
        "/agents/{id}",
        "Change a user's status, role, teams, capacity, password, or deactivate them",
        body=AgentPatch,
        response=AgentOut,
    )
    async def update_agent(request: web.Request) -> web.Response:
        actor = admin(request)
        body = await read_model(request, AgentPatch)
        agent = await request.config_dict[keys.USERS].update(
            path_int(request), body.model_dump(exclude_none=True), actor
        )
        return web.json_response(_agent_out(request, agent))

    @api(
        "GET", "/agents/{id}/next", "The conversation this agent should take next", response=NextOut
    )
    async def next_for(request: web.Request) -> web.Response:
        admin(request)
        conversation_id = await request.config_dict[keys.QUEUE].next_for(path_int(request))
        return web.json_response({"conversation_id": conversation_id})

    @api("GET", "/escalation/settings", "Escalation thresholds and weights", response=PolicyView)
    async def get_policy(request: web.Request) -> web.Response:
        admin(request)
        store = request.config_dict[keys.POLICY]
        return web.json_response(PolicyStore.view(store.current).model_dump())

    @api(
        "PATCH",
        "/escalation/settings",
        "Change thresholds and weights (live at once)",
        body=PolicyUpdate,
        response=PolicyView,
    )
    async def set_policy(request: web.Request) -> web.Response:
        updated = await _update(request, request.config_dict[keys.POLICY], PolicyUpdate)
        return web.json_response(PolicyStore.view(updated).model_dump())

    @api("GET", "/assignment", "How waiting chats reach agents, per team", response=AssignmentView)
    async def get_assignment(request: web.Request) -> web.Response:
        admin(request)
        return web.json_response(request.config_dict[keys.ASSIGNER].current.model_dump())

    @api(
        "PATCH",
        "/assignment",
        "Set automatic assignment: manual, least_loaded or round_robin, per team",
        body=AssignmentUpdate,
        response=AssignmentView,
    )
    async def set_assignment(request: web.Request) -> web.Response:
        updated = await _update(request, request.config_dict[keys.ASSIGNER], AssignmentUpdate)
        return web.json_response(updated.model_dump())

    @api("GET", "/webchat/settings", "The web-chat widget's settings", response=WebchatView)
    async def get_webchat_settings(request: web.Request) -> web.Response:
        admin(request)
        return web.json_response(request.config_dict[keys.WEBCHAT_SETTINGS].current.model_dump())

    @api(
        "PATCH",
        "/webchat/settings",
        "Change the widget's welcome message or forms (live at once)",
        body=WebchatUpdate,
        response=WebchatView,
    )
    async def set_webchat_settings(request: web.Request) -> web.Response:
        updated = await _update(request, request.config_dict[keys.WEBCHAT_SETTINGS], WebchatUpdate)
        return web.json_response(updated.model_dump())

    @api("GET", "/escalation/hours", "Business hours and SLA targets", response=HoursView)
    async def get_hours(request: web.Request) -> web.Response:
        admin(request)
        return web.json_response(request.config_dict[keys.HOURS].current.model_dump())

    @api(
        "PATCH",
        "/escalation/hours",
        "Change business hours or SLA targets (live at once, for new escalations)",
        body=HoursUpdate,
        response=HoursView,
    )
    async def set_hours(request: web.Request) -> web.Response:
        updated = await _update(request, request.config_dict[keys.HOURS], HoursUpdate)
        return web.json_response(updated.model_dump())
