"""Sign-in: the session cookie, CSRF checks on every write, the login and logout forms."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from bot import keys
from bot.accounts.principal import Principal
from bot.api.auth import PRINCIPAL_KEY, bearer_token
from bot.rate_limits import new_ticket
from bot.web.render import render

SESSION_COOKIE = "deskbot_session"
LOGIN_CSRF_COOKIE = "deskbot_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where the session cookie carries authority. The web chat authenticates visitors by their
# own token, so a signed-in agent trying the chat on the same site is just a visitor there.
COOKIE_AUTH_PREFIXES = ("/api/", "/console", "/admin", "/logout")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_secure(request: web.Request) -> bool:
    settings = request.config_dict[keys.SETTINGS]
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    if settings.trust_forwarded_proto:
        return request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    return request.secure


def _forbidden(request: web.Request, message: str) -> web.Response:
    if request.path.startswith(("/api/", "/console/ws")):
        return web.json_response({"error": message}, status=403)
    return web.Response(text=message, status=403)


@web.middleware
async def signed_in_user(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session cookie to a Principal; refuse cookie-borne writes without the CSRF token.

    Bearer-token calls carry no ambient credential, so they need no CSRF token.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if token and bearer_token(request) is None and request.path.startswith(COOKIE_AUTH_PREFIXES):
        who = await request.config_dict[keys.LOGINS].principal(token)
        if who is not None:
            request[PRINCIPAL_KEY] = who
            if request.method not in SAFE_METHODS and not await _csrf_ok(request, who):
                return _forbidden(request, "CSRF token missing or wrong; reload the page")
    return await handler(request)


async def _csrf_ok(request: web.Request, who: Principal) -> bool:
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.content_type == "application/x-www-form-urlencoded":
        presented = str((await request.post()).get(CSRF_FIELD, ""))
    return bool(presented and who.csrf_token) and hmac.compare_digest(
        str(presented).encode(), str(who.csrf_token).encode()
    )


def safe_next(target: str | None, fallback: str) -> str:
    """Only paths on this site, judged after parsing the way a browser reads a Location:
    browsers drop tabs and newlines and read a backslash as a slash, so "/<TAB>/evil.example"
    would become "//evil.example"; any control character or backslash is refused."""
    if not target or any(c < " " or c in "\x7f\\" for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or target.startswith("//"):
        return fallback
    return target


def home_for(who: Principal) -> str:
    return "/admin/faqs" if who.is_admin else "/console"


async def login_form(
    request: web.Request, error: str | None = None, status: int = 200
) -> web.Response:
    nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {"nonce": nonce, "error": error, "next": safe_next(request.query.get("next"), "")},
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        nonce,
        httponly=True,
        samesite="Strict",
        secure=is_secure(request),
        path="/login",
    )
    return response


async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not nonce or not hmac.compare_digest(nonce.encode(), str(form.get(CSRF_FIELD, "")).encode()):
        return await login_form(request, "The form expired; please try again.", status=403)
    email = str(form.get("email", "")).strip().lower()[:320]
    password = str(form.get("password", ""))[:1024]
    limiter = request.config_dict[keys.RATE_LIMITER]
    settings = request.config_dict[keys.SETTINGS]
    limit, window = settings.login_max_failures, settings.login_window_s
    by_address, by_email = f"login:ip:{request.remote}", f"login:email:{email}"
    # Counted before the password is checked, atomically: parallel guesses cannot all get in.
    ticket = new_ticket()
    wait = await limiter.hit_all([(by_address, limit), (by_email, limit)], window, ticket)
    if wait > 0:
        response = await login_form(
            request, f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds.", status=429
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    agent = await request.config_dict[keys.USERS].authenticate(email, password)
    if agent is None:
        return await login_form(request, "Wrong email or password.", status=401)
    # Success: colleagues signing in from the same office address do not use up its attempts.
    await limiter.refund(by_address, window, ticket)
    await limiter.reset(by_email, window)
    await request.config_dict[keys.USERS].set_status(agent.id, "online")
    token = await request.config_dict[keys.LOGINS].start(agent.id)
    who = await request.config_dict[keys.LOGINS].principal(token)
    assert who is not None
    response = web.HTTPSeeOther(safe_next(str(form.get("next", "")), home_for(who)))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=is_secure(request),
        max_age=request.config_dict[keys.LOGINS].max_age_s,
        path="/",
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and request.get(PRINCIPAL_KEY) is not None:
        await request.config_dict[keys.LOGINS].end(token)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def login_redirect(request: web.Request) -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/login?" + urlencode({"next": request.path_qs}))


def add_signin_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
