"""Admins register outgoing webhooks and watch their deliveries."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select

from bot import keys
from bot.api.auth import admin, path_int
from bot.api.body import read_model
from bot.api.errors import BadRequest
from bot.api.openapi import ApiSpec
from bot.webhooks import EVENTS, new_secret
from models import AuditEntry, Webhook, WebhookDelivery

PREFIX = "/api"
DELIVERIES_SHOWN = 50


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")) or any(c.isspace() for c in value):
        raise ValueError("give an http:// or https:// URL")
    return value


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, Field(max_length=2000), AfterValidator(_http_url)]
    events: list[str] = Field(min_length=1, max_length=len(EVENTS), description=", ".join(EVENTS))


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: str
    secret: str | None = None
    """Only in the answer that created it: keep it on the receiving side."""


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]
    events: list[str]


class DeliveryOut(BaseModel):
    id: int
    event: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: str
    sent_at: str | None


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


def _out(hook: Webhook, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        id=hook.id,
        url=hook.url,
        events=list(hook.events),
        active=hook.active,
        created_at=hook.created_at.isoformat(),
        secret=secret,
    )


def add_webhook_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "webhooks", PREFIX, auth="adminToken")

    @api(
        "GET", "/webhooks", "Registered webhooks and the events they can get", response=WebhookList
    )
    async def list_webhooks(request: web.Request) -> web.Response:
        admin(request)
        async with request.config_dict[keys.SESSIONS]() as session:
            hooks = (await session.scalars(select(Webhook).order_by(Webhook.id))).all()
        body = WebhookList(webhooks=[_out(h) for h in hooks], events=list(EVENTS))
        return web.json_response(body.model_dump())

    @api("POST", "/webhooks", "Register a webhook", body=WebhookIn, response=WebhookOut)
    async def add_webhook(request: web.Request) -> web.Response:
        actor = admin(request)
        body = await read_model(request, WebhookIn)
        unknown = sorted(set(body.events) - set(EVENTS))
        if unknown:
            raise BadRequest(f"unknown events {unknown}; choose from {list(EVENTS)}", status=422)
        secret = new_secret()
        hook = Webhook(
            url=body.url, events=sorted(set(body.events)), secret=secret, created_by=actor
        )
        async with request.config_dict[keys.SESSIONS]() as session:
            session.add(hook)
            await session.flush()
            session.add(
                AuditEntry(
                    actor=actor,
                    action="create",
                    entity="webhook",
                    entity_id=str(hook.id),
                    details={"url": body.url, "events": hook.events},
                )
            )
            await session.commit()
        request.config_dict[keys.WEBHOOKS].forget()
        return web.json_response(_out(hook, secret).model_dump(), status=201)

    @api("DELETE", "/webhooks/{id}", "Remove a webhook and its deliveries")
    async def delete_webhook(request: web.Request) -> web.Response:
        actor = admin(request)
        async with request.config_dict[keys.SESSIONS]() as session:
            hook = await session.get(Webhook, path_int(request))
            if hook is None:
                raise BadRequest("no such webhook", status=404)
            await session.delete(hook)
            session.add(
                AuditEntry(
                    actor=actor,
                    action="delete",
                    entity="webhook",
                    entity_id=str(hook.id),
                    details={"url": hook.url},
                )
            )
            await session.commit()
        request.config_dict[keys.WEBHOOKS].forget()
        return web.json_response({"deleted": hook.id})

    @api(
        "GET",
        "/webhooks/{id}/deliveries",
        "A webhook's latest deliveries and how they went",
        response=DeliveryList,
    )
    async def deliveries(request: web.Request) -> web.Response:
        admin(request)
        async with request.config_dict[keys.SESSIONS]() as session:
            if await session.get(Webhook, path_int(request)) is None:
                raise BadRequest("no such webhook", status=404)
            rows = (
                await session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.webhook_id == path_int(request))
                    .order_by(WebhookDelivery.id.desc())
                    .limit(DELIVERIES_SHOWN)
                )
            ).all()
        body = DeliveryList(
            deliveries=[
                DeliveryOut(
                    id=d.id,
                    event=d.event,
                    status=d.status,
                    attempts=d.attempts,
                    last_status=d.last_status,
                    last_error=d.last_error,
                    created_at=d.created_at.isoformat(),
                    sent_at=d.sent_at.isoformat() if d.sent_at else None,
                )
                for d in rows
            ]
        )
        return web.json_response(body.model_dump())
