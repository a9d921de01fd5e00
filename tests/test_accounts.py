"""Sign-in, sessions, CSRF, login rate limits and roles, through the real app's HTTP interface."""

from __future__ import annotations

import asyncio
import re
import uuid

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from bot import keys
from bot.app import init_app
from models import AgentRole
from tests.conftest import admin_headers
from tests.test_webchat import new_visitor, send

PASSWORD = "a-long-test-password"
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
NONCE = re.compile(r'name="csrf_token" value="([^"]+)"')


async def add_user(
    client: TestClient, email: str, role: AgentRole = AgentRole.AGENT, teams=("support",)
) -> int:  # type: ignore[no-untyped-def]
    agent = await client.app[keys.USERS].add(email, email.split("@")[0], role, PASSWORD, "t", teams)
    return agent.id


async def post_login(client: TestClient, email: str, password: str = PASSWORD, next_path: str = ""):  # type: ignore[no-untyped-def]
    form = await (await client.get("/login")).text()
    nonce = NONCE.search(form)
    assert nonce is not None
    return await client.post(
        "/login",
        data={
            "csrf_token": nonce.group(1),
            "email": email,
            "password": password,
            "next": next_path,
        },
        allow_redirects=False,
    )


async def sign_in(client: TestClient, email: str) -> str:
    """Sign in and return the CSRF token the pages carry."""
    response = await post_login(client, email)
    assert response.status == 303, await response.text()
    page = await (await client.get("/console")).text()
    token = META_CSRF.search(page)
    assert token is not None and token.group(1)
    return token.group(1)


async def test_sign_in_sets_a_hardened_cookie_and_lands_by_role(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    await add_user(client, "root@acme.test", AgentRole.ADMIN)
    response = await post_login(client, "ann@acme.test")
    assert response.status == 303 and response.headers["Location"] == "/console"
    cookie = response.cookies["deskbot_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    client.session.cookie_jar.clear()
    admin = await post_login(client, "ROOT@acme.test")
    assert admin.headers["Location"] == "/admin/faqs"
    me = await (await client.get("/api/me")).json()
    assert me["role"] == "admin" and me["status"] == "online"


async def test_wrong_password_unknown_user_and_missing_form_token_are_refused(
    client: TestClient,
) -> None:
    await add_user(client, "ann@acme.test")
    assert (await post_login(client, "ann@acme.test", "wrong-password-1")).status == 401
    assert (await post_login(client, "nobody@acme.test")).status == 401
    forged = await client.post(
        "/login",
        data={"csrf_token": "made-up", "email": "ann@acme.test", "password": PASSWORD},
        allow_redirects=False,
    )
    assert forged.status == 403
    assert "deskbot_session" not in forged.cookies


async def test_repeated_failures_are_rate_limited_even_with_the_right_password(
    client: TestClient,
) -> None:
    await add_user(client, "ann@acme.test")
    limit = client.app[keys.SETTINGS].login_max_failures
    for _ in range(limit):
        assert (await post_login(client, "ann@acme.test", "guess-guess-guess")).status == 401
    blocked = await post_login(client, "ann@acme.test")
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in await blocked.text()


async def test_open_redirects_are_not_followed(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    for target in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example/p",  # the form's value for next=/%09/evil.example/p
        "/\n/evil.example/p",
        "/\r\n/evil.example",
        "/\x00/evil.example",
        "\t//evil.example",
        "javascript:alert(1)",
        "evil.example",
    ):
        response = await post_login(client, "ann@acme.test", next_path=target)
        assert response.headers["Location"] == "/console", target
        client.session.cookie_jar.clear()
    inside = await post_login(client, "ann@acme.test", next_path="/console?x=1")
    assert inside.headers["Location"] == "/console?x=1"
    form = await (await client.get("/login?next=/%09/evil.example/p")).text()
    assert 'name="next" value=""' in form


async def test_writes_with_the_cookie_need_the_csrf_token(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    token = await sign_in(client, "ann@acme.test")
    no_token = await client.patch("/api/me", json={"status": "away"})
    assert no_token.status == 403 and "CSRF" in (await no_token.json())["error"]
    wrong = await client.patch("/api/me", json={"status": "away"}, headers={"X-CSRF-Token": "x"})
    assert wrong.status == 403
    ok = await client.patch("/api/me", json={"status": "away"}, headers={"X-CSRF-Token": token})
    assert ok.status == 200
    assert (await (await client.get("/api/me")).json())["status"] == "away"
    logout_without_token = await client.post("/logout", allow_redirects=False)
    assert logout_without_token.status == 403


async def test_forged_or_ended_sessions_sign_nobody_in(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    client.session.cookie_jar.update_cookies(
        {"deskbot_session": "forged-token"}, URL(str(client.make_url("/")))
    )
    assert (await client.get("/api/me")).status == 401
    page = await client.get("/console", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/login?next=")

    client.session.cookie_jar.clear()
    token = await sign_in(client, "ann@acme.test")
    out = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert out.status == 303
    client.session.cookie_jar.update_cookies(
        {"deskbot_session": out.cookies.get("deskbot_session", "").value or "gone"},
        URL(str(client.make_url("/"))),
    )
    assert (await client.get("/api/me")).status == 401


async def test_disabling_a_user_ends_their_session_at_once(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    await sign_in(client, "ann@acme.test")
    assert (await client.get("/api/me")).status == 200
    await client.app[keys.USERS].disable("ann@acme.test", "test")
    assert (await client.get("/api/me")).status == 401
    assert (await post_login(client, "ann@acme.test")).status == 401


async def test_agents_cannot_edit_faqs_settings_or_read_admin_data(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    token = await sign_in(client, "ann@acme.test")
    headers = {"X-CSRF-Token": token}
    refused = [
        await client.post("/api/intents", json={"name": "sneaky"}, headers=headers),
        await client.patch("/api/escalation/settings", json={"escalate_at": 9}, headers=headers),
        await client.post("/api/nlu/train", headers=headers),
        await client.get("/api/intents"),
        await client.get("/api/audit"),
        await client.get("/api/reports"),
        await client.get("/api/customers"),
        await client.post("/api/customers/1/export", headers=headers),
    ]
    assert [r.status for r in refused] == [403] * len(refused)
    page = await client.get("/admin/faqs")
    assert page.status == 403 and "This page is for admins" in await page.text()


async def test_agents_see_their_teams_queue_and_their_own_chats_only(client: TestClient) -> None:
    await add_user(client, "ann@acme.test", teams=("support",))
    visitor = await new_visitor(client)
    _, escalated = await send(client, visitor, "I want to talk to a human")
    mine = escalated["conversation_id"]
    other_visitor = await new_visitor(client)
    _, other = await send(client, other_visitor, "I want to talk to a human")
    theirs = other["conversation_id"]
    async with client.app[keys.SESSIONS]() as session:
        from models import Conversation

        conversation = await session.get(Conversation, theirs)
        assert conversation is not None
        conversation.team = "trust"
        await session.commit()

    token = await sign_in(client, "ann@acme.test")
    queue = await (await client.get("/api/queue")).json()
    assert [e["conversation_id"] for e in queue["waiting"]] == [mine]
    assert (await client.get(f"/api/conversations/{theirs}")).status == 404
    claim = await client.post(
        f"/api/conversations/{theirs}/claim", json={}, headers={"X-CSRF-Token": token}
    )
    assert claim.status == 404
    claimed = await client.post(
        f"/api/conversations/{mine}/claim", json={}, headers={"X-CSRF-Token": token}
    )
    assert claimed.status == 200
    as_someone_else = await client.post(
        f"/api/conversations/{mine}/reply",
        json={"text": "hi", "agent_id": 999},
        headers={"X-CSRF-Token": token},
    )
    assert as_someone_else.status == 403
    listed = await (await client.get("/api/conversations")).json()
    assert [c["id"] for c in listed["conversations"]] == [mine]
    everything = await (
        await client.get("/api/conversations", headers=admin_headers(client))
    ).json()
    assert {c["id"] for c in everything["conversations"]} == {mine, theirs}


async def test_console_socket_needs_a_session_and_a_same_site_origin(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    anonymous = await client.get("/console/ws")
    assert anonymous.status == 401
    await sign_in(client, "ann@acme.test")
    cross_site = await client.get(
        "/console/ws",
        headers={
            "Origin": "https://evil.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert cross_site.status == 403


async def test_console_socket_pushes_only_what_the_agent_may_see(client: TestClient) -> None:
    await add_user(client, "ann@acme.test", teams=("support",))
    await sign_in(client, "ann@acme.test")
    async with client.ws_connect("/console/ws") as ws:
        visitor = await new_visitor(client)
        _, escalated = await send(client, visitor, "I want to talk to a human")
        event = await ws.receive_json(timeout=5)
        assert event == {
            "type": "conversation_changed",
            "conversation_id": escalated["conversation_id"],
            "state": "queued",
            "previous_state": "bot",
            "reason": "customer asked for a person",  # the console's notification says it
        }
        await ws.send_json({"watch": escalated["conversation_id"]})
        assert (await ws.receive_json(timeout=5))["type"] == "watching"
        await send(client, visitor, "are you there?")
        message = await ws.receive_json(timeout=5)
        assert message["type"] == "message_created"
        assert message["message"]["text"] == "are you there?"
        ack = await ws.receive_json(timeout=5)  # the bot tells the waiting customer the wait
        assert ack["type"] == "message_created" and ack["message"]["sender_kind"] == "bot"
        assert "a person will read this" in ack["message"]["text"]
        await ws.send_json({"watch": 424242})
        assert (await ws.receive_json(timeout=5))["error"] == "no conversation 424242"
        await ws.send_str("not json")
        assert (await ws.receive_json(timeout=5))["type"] == "error"


async def test_admins_manage_users_and_cannot_lock_everyone_out(client: TestClient) -> None:
    root = await add_user(client, "root@acme.test", AgentRole.ADMIN)
    headers = admin_headers(client)
    created = await client.post(
        "/api/agents",
        json={
            "email": "Bea@Acme.test",
            "name": "Bea",
            "password": PASSWORD,
            "teams": ["billing"],
        },
        headers=headers,
    )
    assert created.status == 201, await created.text()
    bea = await created.json()
    assert bea["email"] == "bea@acme.test" and bea["can_sign_in"] and bea["role"] == "agent"
    weak = await client.post(
        "/api/agents",
        json={"email": "c@acme.test", "name": "C", "password": "short"},
        headers=headers,
    )
    assert weak.status == 422

    await sign_in(client, "bea@acme.test")
    assert (await (await client.get("/api/me")).json())["teams"] == ["billing"]
    changed = await client.patch(
        f"/api/agents/{bea['id']}",
        json={"teams": ["support", "trust"], "active": False},
        headers=headers,
    )
    assert changed.status == 200 and not (await changed.json())["can_sign_in"]
    assert (await client.get("/api/me")).status == 401  # deactivated: signed out at once

    last_admin = await client.patch(f"/api/agents/{root}", json={"role": "agent"}, headers=headers)
    assert last_admin.status == 409
    assert (
        await client.patch(f"/api/agents/{root}", json={"active": False}, headers=headers)
    ).status == 409
    assert (
        await client.patch("/api/agents/99999", json={"active": False}, headers=headers)
    ).status == 404
    bad = await client.patch(f"/api/agents/{root}", json={"teams": ["Bad Team!"]}, headers=headers)
    assert bad.status == 422
    audit = await (await client.get("/api/audit?entity=user", headers=headers)).json()
    assert {"user_added", "user_changed"} <= {e["action"] for e in audit["entries"]}
    assert all(
        "password" not in str(e["details"]).lower() or "(set)" in str(e["details"])
        for e in audit["entries"]
    )


async def test_business_hours_and_sla_targets_change_live(client: TestClient) -> None:
    headers = admin_headers(client)
    hours = await (await client.get("/api/escalation/hours", headers=headers)).json()
    assert hours["business_hours"] == "Mon-Fri 09:00-18:00"
    refused = [
        {"business_hours": "whenever"},
        {"business_timezone": "Mars/Olympus"},
        {"sla_first_response_s": 0},
        {"sla_first_response_s": 600, "sla_resolution_s": 60},
        {"unknown": 1},
    ]
    for change in refused:
        response = await client.patch("/api/escalation/hours", json=change, headers=headers)
        assert response.status == 422, change
    updated = await client.patch(
        "/api/escalation/hours",
        json={"business_hours": "24/7", "sla_first_response_s": 120},
        headers=headers,
    )
    assert (await updated.json())["sla_first_response_s"] == 120
    visitor = await new_visitor(client)
    await send(client, visitor, "I want to talk to a human")
    (entry,) = (await (await client.get("/api/queue", headers=headers)).json())["waiting"]
    from datetime import datetime

    due = datetime.fromisoformat(entry["first_response_due_at"])
    async with client.app[keys.SESSIONS]() as session:
        from models import Conversation

        conversation = await session.get(Conversation, entry["conversation_id"])
        assert conversation is not None and conversation.escalated_at is not None
        assert (due - conversation.escalated_at).total_seconds() == 120
    audit = await (await client.get("/api/audit?entity=service_hours", headers=headers)).json()
    assert audit["entries"][0]["details"] == {"business_hours": "24/7", "sla_first_response_s": 120}


async def test_the_audit_trail_never_holds_a_password_and_says_user_added(
    client: TestClient,
) -> None:
    headers = admin_headers(client)
    secret, reset = "plain-text-leak-9183", "another-leak-5521"
    created = await client.post(
        "/api/agents",
        json={"email": "dan@acme.test", "name": "Dan", "password": secret, "max_concurrent": 5},
        headers=headers,
    )
    assert created.status == 201, await created.text()
    dan = await created.json()
    assert dan["max_concurrent"] == 5 and dan["can_sign_in"]
    changed = await client.patch(
        f"/api/agents/{dan['id']}", json={"password": reset}, headers=headers
    )
    assert changed.status == 200
    audit = await (await client.get("/api/audit?entity=user", headers=headers)).json()
    rows = [(e["action"], e["details"]) for e in audit["entries"] if e["entity_id"] == dan["email"]]
    assert sorted(rows, key=lambda r: r[0]) == [
        (
            "user_added",
            {
                "role": "agent",
                "teams": ["support"],
                "max_concurrent": 5,
                "status": "offline",
                "password": "(set)",
            },
        ),
        ("user_changed", {"password": "(set)"}),
    ]
    assert secret not in str(audit) and reset not in str(audit)


async def test_an_admin_resetting_a_password_ends_that_users_sessions(client: TestClient) -> None:
    ann = await add_user(client, "ann@acme.test")
    await sign_in(client, "ann@acme.test")
    assert (await client.get("/api/me")).status == 200
    reset = await client.patch(
        f"/api/agents/{ann}",
        json={"password": "a-brand-new-secret-42"},
        headers=admin_headers(client),
    )
    assert reset.status == 200
    assert (await client.get("/api/me")).status == 401
    other = await client.patch(  # any other change leaves the session alone
        f"/api/agents/{ann}", json={"max_concurrent": 4}, headers=admin_headers(client)
    )
    assert other.status == 200


@pytest.mark.parametrize("shared", [False, True], ids=["in-process", "redis"])
async def test_parallel_guesses_cannot_pass_the_login_brake(
    aiohttp_client, make_settings, shared: bool
) -> None:  # type: ignore[no-untyped-def]
    """60 guesses at once used to be tried all, the right one among them signing in."""
    redis = {"redis_url": "redis://127.0.0.1:6379/0", "redis_prefix": f"t{uuid.uuid4().hex[:8]}"}
    client: TestClient = await aiohttp_client(
        await init_app(make_settings(**(redis if shared else {})))
    )
    await add_user(client, "ann@acme.test")
    limit = client.app[keys.SETTINGS].login_max_failures
    form = await (await client.get("/login")).text()
    nonce = NONCE.search(form).group(1)  # type: ignore[union-attr]
    guesses = [f"guess-number-{n:02}" for n in range(60)]
    guesses[30] = PASSWORD

    async def attempt(password: str) -> int:
        response = await client.post(
            "/login",
            data={"csrf_token": nonce, "email": "ann@acme.test", "password": password},
            allow_redirects=False,
        )
        return response.status

    statuses = await asyncio.gather(*(attempt(p) for p in guesses))
    assert sum(s != 429 for s in statuses) == limit, statuses
    assert statuses[30] == 429 or sum(s == 303 for s in statuses) <= 1


async def test_colleagues_signing_in_from_one_address_do_not_lock_it(client: TestClient) -> None:
    limit = client.app[keys.SETTINGS].login_max_failures
    for n in range(limit * 2):
        await add_user(client, f"agent{n}@acme.test")
        response = await post_login(client, f"agent{n}@acme.test")
        assert response.status == 303, n
        client.session.cookie_jar.clear()
    assert (await post_login(client, "agent0@acme.test", "wrong-password-1")).status == 401
    assert (await post_login(client, "agent0@acme.test")).status == 303  # resets this email


@pytest.mark.parametrize("ending", ["deactivated", "logged out", "password reset"])
async def test_the_console_socket_closes_soon_after_the_session_ends(
    client: TestClient, ending: str
) -> None:
    ann = await add_user(client, "ann@acme.test")
    csrf = await sign_in(client, "ann@acme.test")
    async with client.ws_connect("/console/ws") as ws:
        started = asyncio.get_running_loop().time()
        if ending == "logged out":
            response = await client.post(
                "/logout", headers={"X-CSRF-Token": csrf}, allow_redirects=False
            )
        else:
            change = (
                {"active": False} if ending == "deactivated" else {"password": "n3w-Secret-99x"}
            )
            response = await client.patch(
                f"/api/agents/{ann}", json=change, headers=admin_headers(client)
            )
        assert response.status in {200, 303}
        frame = await ws.receive(timeout=5)
        while frame.type == aiohttp.WSMsgType.TEXT:  # events sent before the check came round
            frame = await ws.receive(timeout=5)
        assert frame.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
        assert asyncio.get_running_loop().time() - started < 5


async def test_common_and_personal_passwords_are_refused_with_a_clear_message(
    client: TestClient,
) -> None:
    headers = admin_headers(client)
    for password in (
        "aaaaaaaaaa",
        "password123",
        "qwertyuiop",
        "ann.smith@acme.test",  # the email itself
        "annsmith2024",  # made of the name and a year
        "x" * 500,  # long, but a repeat; zxcvbn's 72-character cap must not turn it into a 500
    ):
        refused = await client.post(
            "/api/agents",
            json={"email": "ann.smith@acme.test", "name": "Ann Smith", "password": password},
            headers=headers,
        )
        assert refused.status == 422, (password, await refused.text())
        error = (await refused.json())["error"]
        assert "too easy to guess" in error or "characters" in error, error
    created = await client.post(
        "/api/agents",
        json={"email": "ann.smith@acme.test", "name": "Ann Smith", "password": "x"},
        headers=headers,
    )
    assert created.status == 422  # the length rule still answers first
    ann = await client.post(
        "/api/agents",
        json={"email": "ann.smith@acme.test", "name": "Ann Smith", "password": PASSWORD},
        headers=headers,
    )
    assert ann.status == 201
    reset = await client.patch(
        f"/api/agents/{(await ann.json())['id']}",
        json={"password": "AnnSmith-acme"},
        headers=headers,
    )
    assert reset.status == 422 and "too easy to guess" in (await reset.json())["error"]
