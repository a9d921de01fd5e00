"""Admin-only reads and privacy actions: the change history, customer search, export and
erasure, service reports."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from bot import keys
from bot.api.auth import admin, path_int
from bot.api.body import read_model
from bot.api.errors import BadRequest
from bot.api.openapi import ApiSpec
from bot.customer_search import search_statement
from bot.events import AGENTS_TOPIC, ConversationChanged, conversation_topic
from bot.privacy import CustomerNotFound, erase_customer, export_customer
from bot.reports import build_report
from models import AuditEntry, ConversationState, Customer
from models.base import utcnow

PREFIX = "/api"
AUDIT_LIMIT = 500
SEARCH_LIMIT = 50
MAX_REPORT_DAYS = 366


class AuditOut(BaseModel):
    id: int
    actor: str
    action: str
    entity: str
    entity_id: str
    details: dict[str, Any]
    created_at: str


class AuditList(BaseModel):
    entries: list[AuditOut]


class CustomerRow(BaseModel):
    id: int
    display_name: str
    email: str | None
    tier: str
    erased: bool


class CustomerList(BaseModel):
    customers: list[CustomerRow]


class EraseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: int


def report_days(request: web.Request) -> int:
    raw = request.query.get("days", "30")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_REPORT_DAYS:
        raise BadRequest(f"days must be a whole number from 1 to {MAX_REPORT_DAYS}")
    return int(raw)


async def audit_entries(request: web.Request, entity: str | None, limit: int) -> list[AuditEntry]:
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity:
        statement = statement.where(AuditEntry.entity == entity)
    async with request.config_dict[keys.SESSIONS]() as session:
        return list((await session.scalars(statement)).all())


async def search_customers(request: web.Request, query: str) -> list[Customer]:
    async with request.config_dict[keys.SESSIONS]() as session:
        dialect = session.get_bind().dialect.name
        statement = search_statement(query, dialect, SEARCH_LIMIT)
        return list((await session.scalars(statement)).all())


def add_admin_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "admin", PREFIX, auth="adminToken")

    @api(
        "GET",
        "/audit",
        "Who changed what, newest first",
        response=AuditList,
        query=(("entity", "string"), ("limit", "integer")),
    )
    async def audit(request: web.Request) -> web.Response:
        admin(request)
        raw_limit = request.query.get("limit", "100")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= AUDIT_LIMIT:
            raise BadRequest(f"limit must be from 1 to {AUDIT_LIMIT}")
        rows = await audit_entries(request, request.query.get("entity"), int(raw_limit))
        entries = [
            AuditOut(
                id=r.id,
                actor=r.actor,
                action=r.action,
                entity=r.entity,
                entity_id=r.entity_id,
                details=r.details,
                created_at=r.created_at.isoformat(),
            ).model_dump()
            for r in rows
        ]
        return web.json_response({"entries": entries})

    @api(
        "GET",
        "/customers",
        "Find customers by name, email or id",
        response=CustomerList,
        query=(("q", "string"),),
    )
    async def customers(request: web.Request) -> web.Response:
        admin(request)
        found = await search_customers(request, request.query.get("q", "").strip()[:200])
        rows = [
            CustomerRow(
                id=c.id,
                display_name=c.display_name,
                email=c.email,
                tier=c.tier,
                erased=c.erased_at is not None,
            ).model_dump()
            for c in found
        ]
        return web.json_response({"customers": rows})

    @api(
        "POST",
        "/customers/{id}/export",
        "Everything stored about one customer (audited); a POST, so another site cannot "
        "make an admin's browser export it",
    )
    async def export(request: web.Request) -> web.Response:
        actor = admin(request)
        customer_id = path_int(request)
        try:
            data = await export_customer(request.config_dict[keys.SESSIONS], customer_id, actor)
        except CustomerNotFound as exc:
            raise BadRequest(str(exc), status=404) from None
        response = web.json_response(data)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="customer-{customer_id}.json"'
        )
        return response

    @api(
        "POST",
        "/customers/{id}/erase",
        "Erase a customer: messages redacted, identity removed, counts kept (audited); "
        'the body repeats the id: {"confirm": id}',
        body=EraseRequest,
    )
    async def erase(request: web.Request) -> web.Response:
        actor = admin(request)
        customer_id = path_int(request)
        body = await read_model(request, EraseRequest)
        if body.confirm != customer_id:
            raise BadRequest("confirm must repeat the customer id", status=422)
        try:
            erased = await erase_customer(request.config_dict[keys.SESSIONS], customer_id, actor)
        except CustomerNotFound as exc:
            raise BadRequest(str(exc), status=404) from None
        for conversation_id, previous in erased.closed:  # consoles drop them at once
            change = ConversationChanged(
                conversation_id=conversation_id,
                state=ConversationState.RESOLVED.value,
                previous_state=previous,
                reason="customer erased",
            )
            await request.config_dict[keys.BUS].publish(
                (conversation_topic(conversation_id), AGENTS_TOPIC), change
            )
        return web.json_response({"customer_id": customer_id, **erased.counts})

    @api(
        "GET",
        "/reports",
        "Service metrics for the last N days (see DEFINITIONS in the reports page)",
        query=(("days", "integer"),),
    )
    async def reports(request: web.Request) -> web.Response:
        admin(request)
        report = await build_report(
            request.config_dict[keys.SESSIONS], report_days(request), utcnow()
        )
        return web.json_response(
            {
                "since": report.since.isoformat(),
                "until": report.until.isoformat(),
                "overall": report.overall,
                "by_day": report.by_day,
                "by_channel": report.by_channel,
                "escalation_reasons": dict(report.reasons),
                "top_intents": dict(report.top_intents),
                "top_fallbacks": [{"text": t, "count": n} for t, n in report.top_fallbacks],
            }
        )

    @api("GET", "/reports.csv", "The same metrics as CSV", query=(("days", "integer"),))
    async def reports_csv(request: web.Request) -> web.Response:
        admin(request)
        days = report_days(request)
        report = await build_report(request.config_dict[keys.SESSIONS], days, utcnow())
        return web.Response(
            text=report.csv(),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="deskbot-report-{days}d.csv"'},
        )
