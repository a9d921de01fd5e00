"""The console and admin pages. Roles are checked here on the server, not only hidden in menus."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web
from sqlalchemy import func, select

from bot import keys
from bot.accounts.principal import Principal
from bot.api.admin_routes import audit_entries, report_days, search_customers
from bot.api.auth import PRINCIPAL_KEY
from bot.customer_search import MIN_INDEXED, SHORT_QUERY_WINDOW
from bot.reports import DEFINITIONS, build_report
from bot.web.charts import bar_rows
from bot.web.render import render
from bot.web.signin import home_for, login_redirect
from knowledge.gaps.report import help_centre_context
from models import Conversation, Customer, CustomerIdentity
from models.base import utcnow

Page = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]
STATIC_TYPES = {".js": "application/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
STATIC_FILES = frozenset(
    {
        "common.js",
        "presence.js",
        "webhooks.js",
        "favicon.svg",
        "console.js",
        "faqs.js",
        "settings.js",
        "customers.js",
        "users.js",
        "articles.js",
        "gaps.js",
        "app.css",
    }
)


def signed_in(
    page: Page, admin_only: bool = False
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        who: Principal | None = request.get(PRINCIPAL_KEY)
        if who is None:
            raise login_redirect(request)
        if admin_only and not who.is_admin:
            return render(
                request,
                "error.html",
                {"title": "Not allowed", "message": "This page is for admins."},
                status=403,
            )
        return await page(request, who)

    return handler


async def home(request: web.Request, who: Principal) -> web.StreamResponse:
    raise web.HTTPSeeOther(home_for(who))


async def console(request: web.Request, who: Principal) -> web.StreamResponse:
    return render(request, "console.html", {})


async def faqs(request: web.Request, who: Principal) -> web.StreamResponse:
    return render(request, "faqs.html", {})


async def settings_page(request: web.Request, who: Principal) -> web.StreamResponse:
    return render(request, "settings.html", {})


async def users_page(request: web.Request, who: Principal) -> web.StreamResponse:
    return render(request, "users.html", {})


async def customers(request: web.Request, who: Principal) -> web.StreamResponse:
    query = request.query.get("q", "").strip()[:200]
    found = await search_customers(request, query)
    context = {"query": query, "customers": found, "activity": await _activity(request, found)}
    context |= {"min_indexed": MIN_INDEXED, "window": SHORT_QUERY_WINDOW}
    return render(request, "customers.html", context)


async def _activity(
    request: web.Request, customers: list[Customer]
) -> dict[int, dict[str, object]]:
    """Per customer shown: their channels, how many conversations, the latest one's id (one
    grouped query over the page's customers, by the customer index)."""
    ids = [c.id for c in customers]
    if not ids:
        return {}
    async with request.config_dict[keys.SESSIONS]() as session:
        rows = (
            await session.execute(
                select(
                    Conversation.customer_id,
                    func.count(),
                    func.max(Conversation.id),
                )
                .where(Conversation.customer_id.in_(ids))
                .group_by(Conversation.customer_id)
            )
        ).all()
        channels = (
            await session.execute(
                select(CustomerIdentity.customer_id, CustomerIdentity.channel).where(
                    CustomerIdentity.customer_id.in_(ids)
                )
            )
        ).all()
    out: dict[int, dict[str, object]] = {
        i: {"conversations": 0, "latest": None, "channels": []} for i in ids
    }
    for customer_id, count, latest in rows:
        out[customer_id] |= {"conversations": count, "latest": latest}
    for customer_id, channel in channels:
        out[customer_id]["channels"].append(channel)  # type: ignore[union-attr]
    return out


async def reports(request: web.Request, who: Principal) -> web.StreamResponse:
    days = report_days(request)
    report = await build_report(request.config_dict[keys.SESSIONS], days, utcnow())
    per_day = [(day, row["conversations"] or 0) for day, row in report.by_day.items()]
    context = {
        "days": days,
        "report": report,
        "definitions": DEFINITIONS,
        "per_day": bar_rows(per_day),
        "reasons": bar_rows(report.reasons),
        "intents": bar_rows(report.top_intents),
        "fallbacks": bar_rows(report.top_fallbacks),
        **await help_centre_context(request, days),
    }
    return render(request, "reports.html", context)


async def history(request: web.Request, who: Principal) -> web.StreamResponse:
    entity = request.query.get("entity") or None
    entries = await audit_entries(request, entity, 200)
    return render(request, "history.html", {"entries": entries, "entity": entity or ""})


async def webhooks_page(request: web.Request, who: Principal) -> web.StreamResponse:
    return render(request, "webhooks.html", {})


async def static_file(request: web.Request) -> web.Response:
    return _static(request.match_info["name"])


async def favicon(_request: web.Request) -> web.Response:
    """Browsers ask for /favicon.ico on every page (the demo site's too), whatever it links."""
    return _static("favicon.svg")


def _static(name: str) -> web.Response:
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    text = resources.files("bot").joinpath(f"web/static/{name}").read_text(encoding="utf-8")
    suffix = name[name.rfind(".") :]
    return web.Response(
        text=text,
        content_type=STATIC_TYPES[suffix],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/console", signed_in(console))
    app.router.add_get("/admin", signed_in(home, admin_only=True))
    app.router.add_get("/admin/faqs", signed_in(faqs, admin_only=True))
    app.router.add_get("/admin/settings", signed_in(settings_page, admin_only=True))
    app.router.add_get("/admin/customers", signed_in(customers, admin_only=True))
    app.router.add_get("/admin/users", signed_in(users_page, admin_only=True))
    app.router.add_get("/admin/reports", signed_in(reports, admin_only=True))
    app.router.add_get("/admin/history", signed_in(history, admin_only=True))
    app.router.add_get("/admin/webhooks", signed_in(webhooks_page, admin_only=True))
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/favicon.ico", favicon)
