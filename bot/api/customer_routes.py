"""Customers for admins and integrations: CRM import, profile, churn risk and its factors."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot import keys
from bot.api.auth import admin, path_int
from bot.api.body import read_model
from bot.api.errors import BadRequest
from bot.api.openapi import ApiSpec
from escalation.customers import CustomerDataError, import_customers, parse_customer_csv
from models import Customer

PREFIX = "/api"


class CustomerImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(description="CSV text; one row per customer")
    key: str = Field(default="email", description="The column holding the email address")


class FactorOut(BaseModel):
    feature: str
    value: str
    weight: float


class ChurnOut(BaseModel):
    risk: float
    explanation: str
    factors: list[FactorOut]


class CustomerOut(BaseModel):
    id: int
    email: str | None
    tier: str
    attributes: dict[str, Any]
    churn: ChurnOut | None


def add_customer_routes(spec: ApiSpec, routes: web.RouteTableDef) -> None:
    api = spec.section(routes, "customers", PREFIX, auth="adminToken")

    @api(
        "POST",
        "/customers/import",
        "Create or update customers from CSV (matched by email)",
        body=CustomerImport,
    )
    async def import_csv(request: web.Request) -> web.Response:
        actor = admin(request)
        body = await read_model(
            request, CustomerImport, request.config_dict[keys.SETTINGS].max_import_bytes
        )
        try:
            rows = parse_customer_csv(body.content, body.key)
        except CustomerDataError as exc:
            raise BadRequest(str(exc)) from None
        counts = await import_customers(request.config_dict[keys.SESSIONS], rows, body.key, actor)
        return web.json_response(counts)

    @api(
        "GET",
        "/customers/{id}",
        "A customer's profile and churn risk with its top factors",
        response=CustomerOut,
    )
    async def get_customer(request: web.Request) -> web.Response:
        admin(request)
        customer_id = path_int(request)
        async with request.config_dict[keys.SESSIONS]() as session:
            customer = await session.get(Customer, customer_id)
        if customer is None:
            raise BadRequest(f"no customer {customer_id}", status=404)
        score = request.config_dict[keys.CHURN].score(customer.attributes)
        churn = None
        if score is not None:
            churn = ChurnOut(
                risk=score.risk,
                explanation=score.explain(),
                factors=[
                    FactorOut(feature=f.feature, value=f.value, weight=f.weight)
                    for f in score.factors
                ],
            )
        out = CustomerOut(
            id=customer.id,
            email=customer.email,
            tier=customer.tier,
            attributes=customer.attributes,
            churn=churn,
        )
        return web.json_response(out.model_dump())
