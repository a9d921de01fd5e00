"""What the agent console needs beyond the queue: who I am, notes, suggestions, the customer
panel and canned responses."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import keys
from bot.api.auth import admin, path_int, staff, visible_conversation
from bot.api.body import read_model
from bot.api.errors import BadRequest
from bot.api.openapi import ApiSpec
from channels.visitor_identity import is_signed_in_visitor
from escalation.customers import CONTACT_EMAIL
from escalation.presence import HEARTBEAT_S, presence_of
from knowledge.articles.appkey import ARTICLES
from knowledge.suggest import suggest
from models import Agent, CannedResponse, Conversation, ConversationNote, Customer, Message
from models.base import utcnow

PREFIX = "/api"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
PAST_LIMIT = 20


class MeOut(BaseModel):
    agent_id: int | None
    email: str
    name: str
    role: str
    teams: list[str]
    status: str
    """The user's choice: online, away or offline."""
    presence: str
    """What the queue counts: online only while a page of theirs is open and in use."""


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool = False
    """Typed, clicked or scrolled since the last beat."""
    gone: bool = False
    """The page is closing."""


class PresenceOut(BaseModel):
    presence: str


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(pattern=r"^(online|away|offline)$")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text


class NoteOut(BaseModel):
    id: int
    author: str | None
    text: str
    created_at: str


class NotesOut(BaseModel):
    notes: list[NoteOut]


class SuggestionOut(BaseModel):
    intent: str
    confidence: float
    answer: str
    kind: str = "faq"
    """"faq" (an intent's answer) or "article" (a help-centre passage and its link)."""
    title: str | None = None
    url: str | None = None


class SuggestionsOut(BaseModel):
    for_text: str | None
    suggestions: list[SuggestionOut]


class PastConversation(BaseModel):
    id: int
    channel: str
    state: str
    created_at: str


class CustomerPanel(BaseModel):
    customer_id: int
    display_name: str
    tier: str
    churn_risk: float | None
    churn_factors: list[str]
    conversations: list[PastConversation]
    email: str | None = None
    """The CRM's address, else the one a web-chat visitor gave for replies."""
    verified: bool = False
    """Your site vouched for who this web-chat visitor is (a signed identity)."""


class SentimentCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(pattern=r"^(negative|neutral|positive)$")


class SentimentCorrected(BaseModel):
    id: int
    sentiment: float | None
    sentiment_label: str


class CannedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shortcut: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    text: Text


class CannedOut(BaseModel):
    id: int
    shortcut: str
    text: str


class CannedList(BaseModel):
    responses: list[CannedOut]


def add_console_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "console", PREFIX, auth="adminToken")

    @api("GET", "/me", "The signed-in user", response=MeOut)
    async def get_me(request: web.Request) -> web.Response:
        who = staff(request)
        status = presence = "online"  # the admin token is no agent: nobody waits for it
        if who.agent_id is not None:
            async with request.config_dict[keys.SESSIONS]() as session:
                agent = await session.get(Agent, who.agent_id)
            status = agent.status if agent else "offline"
            presence = _presence(request, agent) if agent else "offline"
        out = MeOut(
            agent_id=who.agent_id,
            email=who.email,
            name=who.name,
            role=who.role.value,
            teams=list(who.teams),
            status=status,
            presence=presence,
        )
        return web.json_response(out.model_dump())

    @api(
        "POST",
        "/me/presence",
        f"A staff page is open (every {HEARTBEAT_S} s) or closing; my presence now",
        body=Heartbeat,
        response=PresenceOut,
    )
    async def beat(request: web.Request) -> web.Response:
        who = staff(request)
        if who.agent_id is None:
            raise BadRequest("the admin token is not an agent", 422)
        heartbeat = await read_model(request, Heartbeat)
        async with request.config_dict[keys.SESSIONS]() as session:
            before = await session.get(Agent, who.agent_id)
        was = _presence(request, before) if before else "offline"
        agent = await request.config_dict[keys.USERS].heartbeat(
            who.agent_id, heartbeat.active, heartbeat.gone
        )
        presence = _presence(request, agent)
        if presence != was:  # widgets asking next hear of it (this process at once)
            request.config_dict[keys.QUEUE].forget_availability()
        return web.json_response({"presence": presence})

    @api("PATCH", "/me", "Set my status (online, away, offline)", body=StatusChange)
    async def set_my_status(request: web.Request) -> web.Response:
        who = staff(request)
        if who.agent_id is None:
            raise BadRequest("the admin token is not an agent; use PATCH /api/agents/{id}", 422)
        change = await read_model(request, StatusChange)
        await request.config_dict[keys.USERS].set_status(who.agent_id, change.status)
        return web.json_response({"status": change.status})

    @api("GET", "/conversations/{id}/notes", "Private notes on a conversation", response=NotesOut)
    async def list_notes(request: web.Request) -> web.Response:
        conversation_id = path_int(request)
        await visible_conversation(request, staff(request), conversation_id)
        async with request.config_dict[keys.SESSIONS]() as session:
            rows = await session.execute(
                select(ConversationNote, Agent.name)
                .outerjoin(Agent, Agent.id == ConversationNote.agent_id)
                .where(ConversationNote.conversation_id == conversation_id)
                .order_by(ConversationNote.id)
            )
            notes = [_note_out(note, author) for note, author in rows]
        return web.json_response({"notes": notes})

    @api(
        "POST",
        "/conversations/{id}/notes",
        "Add a private note (never sent to the customer)",
        body=NoteIn,
        response=NoteOut,
    )
    async def add_note(request: web.Request) -> web.Response:
        who = staff(request)
        conversation_id = path_int(request)
        await visible_conversation(request, who, conversation_id)
        body = await read_model(request, NoteIn)
        async with request.config_dict[keys.SESSIONS]() as session:
            note = ConversationNote(
                conversation_id=conversation_id, agent_id=who.agent_id, text=body.text
            )
            session.add(note)
            await session.commit()
        return web.json_response(_note_out(note, who.name), status=201)

    @api(
        "PUT",
        "/messages/{id}/sentiment",
        "Correct a customer message's sentiment (training data for `sentiment train "
        "--from-conversations`)",
        body=SentimentCorrection,
        response=SentimentCorrected,
    )
    async def correct_sentiment(request: web.Request) -> web.Response:
        who = staff(request)
        message_id = path_int(request)
        body = await read_model(request, SentimentCorrection)
        async with request.config_dict[keys.SESSIONS]() as session:
            message = await session.get(Message, message_id)
            if message is None or message.sender_kind != "customer":
                raise BadRequest(f"no customer message {message_id}", status=404)
            await visible_conversation(request, who, message.conversation_id)
            message.sentiment_label = body.label
            await session.commit()
            out = SentimentCorrected(
                id=message.id, sentiment=message.sentiment, sentiment_label=body.label
            )
        return web.json_response(out.model_dump())

    @api(
        "GET",
        "/conversations/{id}/suggestions",
        "Knowledge-base answers for the customer's last message",
        response=SuggestionsOut,
    )
    async def suggestions(request: web.Request) -> web.Response:
        conversation_id = path_int(request)
        conversation = await visible_conversation(request, staff(request), conversation_id)
        async with request.config_dict[keys.SESSIONS]() as session:
            last = await session.scalar(
                select(Message.text)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.sender_kind == "customer",
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
        if last is None:
            return web.json_response({"for_text": None, "suggestions": []})
        parsed = await request.config_dict[keys.NLU].parse_async(last)
        found = await suggest(
            request.config_dict[keys.KNOWLEDGE],
            parsed,
            conversation.language,
            articles=request.config_dict[ARTICLES],
            text=last,
        )
        out = SuggestionsOut(
            for_text=last,
            suggestions=[
                SuggestionOut(
                    intent=s.intent,
                    confidence=s.confidence,
                    answer=s.answer,
                    kind=s.kind,
                    title=s.title,
                    url=s.url,
                )
                for s in found
            ],
        )
        return web.json_response(out.model_dump())

    @api(
        "GET",
        "/conversations/{id}/customer",
        "The customer panel: tier, churn risk and its factors, past conversations",
        response=CustomerPanel,
    )
    async def customer_panel(request: web.Request) -> web.Response:
        conversation_id = path_int(request)
        who = staff(request)
        conversation = await visible_conversation(request, who, conversation_id)
        async with request.config_dict[keys.SESSIONS]() as session:
            customer = await session.get(Customer, conversation.customer_id)
            assert customer is not None
            past = (
                await session.scalars(
                    select(Conversation)
                    .where(Conversation.customer_id == customer.id)
                    .order_by(Conversation.id.desc())
                    .limit(PAST_LIMIT)
                )
            ).all()
        score = request.config_dict[keys.CHURN].score(customer.attributes)
        panel = CustomerPanel(
            customer_id=customer.id,
            display_name=customer.display_name,
            tier=customer.tier,
            churn_risk=score.risk if score else None,
            churn_factors=[f"{f.feature} = {f.value}" for f in score.factors] if score else [],
            email=customer.email or (customer.attributes or {}).get(CONTACT_EMAIL),
            # this chat's visitor was vouched for, not just someone writing as the customer
            verified=conversation.channel == "webchat"
            and is_signed_in_visitor(conversation.external_thread)
            and "user_id" in (customer.attributes or {}),
            conversations=[
                PastConversation(
                    id=c.id, channel=c.channel, state=c.state, created_at=c.created_at.isoformat()
                )
                for c in past
                if who.can_see(c)
            ],
        )
        return web.json_response(panel.model_dump())

    @api("GET", "/canned-responses", "Canned responses agents can insert", response=CannedList)
    async def list_canned(request: web.Request) -> web.Response:
        staff(request)
        async with request.config_dict[keys.SESSIONS]() as session:
            rows = (
                await session.scalars(select(CannedResponse).order_by(CannedResponse.shortcut))
            ).all()
        return web.json_response({"responses": [_canned_out(r) for r in rows]})

    @api("POST", "/canned-responses", "Add a canned response", body=CannedIn, response=CannedOut)
    async def add_canned(request: web.Request) -> web.Response:
        actor = admin(request)
        body = await read_model(request, CannedIn)
        async with request.config_dict[keys.SESSIONS]() as session:
            row = CannedResponse(shortcut=body.shortcut, text=body.text, created_by=actor)
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                raise BadRequest(f"/{body.shortcut} exists", status=409) from None
        return web.json_response(_canned_out(row), status=201)

    @api("DELETE", "/canned-responses/{id}", "Delete a canned response")
    async def delete_canned(request: web.Request) -> web.Response:
        admin(request)
        async with request.config_dict[keys.SESSIONS]() as session:
            row = await session.get(CannedResponse, path_int(request))
            if row is None:
                raise BadRequest("no such canned response", status=404)
            await session.delete(row)
            await session.commit()
        return web.json_response({"deleted": row.shortcut})


def _note_out(note: ConversationNote, author: str | None) -> dict[str, object]:
    return NoteOut(
        id=note.id, author=author, text=note.text, created_at=note.created_at.isoformat()
    ).model_dump()


def _canned_out(row: CannedResponse) -> dict[str, object]:
    return CannedOut(id=row.id, shortcut=row.shortcut, text=row.text).model_dump()


def _presence(request: web.Request, agent: Agent) -> str:
    idle_s = request.config_dict[keys.SETTINGS].agent_idle_s
    return presence_of(agent, utcnow(), idle_s).value
