"""Articles through the real app: the admin API and page (roles, CSRF, versions), imports,
the public help page answers link to, the web chat's buttons, and the console's suggestions."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from typing import Any

from aiohttp.test_utils import TestClient

from bot import keys
from models import AgentRole, Message
from tests.conftest import admin_headers
from tests.test_accounts import add_user, sign_in
from tests.test_webchat import new_visitor, send


async def _meta(client: TestClient, message_id: int) -> dict[str, Any]:
    async with client.app[keys.SESSIONS]() as session:
        return (await session.get_one(Message, message_id)).meta


QUESTION = "how long is the activity log kept on enterprise"


async def test_admin_creates_edits_and_deletes_an_article_with_versions(
    client: TestClient,
) -> None:
    headers = admin_headers(client)
    created = await client.post(
        "/api/articles",
        json={
            "slug": "parking",
            "title": "Parking at the office",
            "body": "# Visitors\n\nVisitors park in lot B.\n\n# Staff\n\nStaff park underground.",
        },
        headers=headers,
    )
    assert created.status == 201, await created.text()
    article = await created.json()
    assert [(p["heading"], p["text"]) for p in article["passages"]] == [
        ("Visitors", "Visitors park in lot B."),
        ("Staff", "Staff park underground."),
    ]
    path = f"/api/articles/{article['id']}"
    edited = await client.patch(
        path, json={"body": "Everyone parks in lot C."}, headers={**headers, "If-Match": "1"}
    )
    assert edited.status == 200 and (await edited.json())["version"] == 2
    stale = await client.patch(path, json={"title": "Old"}, headers={**headers, "If-Match": "1"})
    assert stale.status == 409 and "version 2" in (await stale.json())["error"]
    tried = await client.post(
        "/api/articles/search", json={"text": "where can visitors park"}, headers=headers
    )
    found = await tried.json()
    assert found["hits"][0]["text"] == "Everyone parks in lot C."
    listed = await (await client.get("/api/articles?q=parking", headers=headers)).json()
    assert [a["slug"] for a in listed["articles"]] == ["parking"]
    duplicate = await client.post(
        "/api/articles",
        json={"slug": "parking", "title": "Again", "body": "x"},
        headers=headers,
    )
    assert duplicate.status == 409
    bad = await client.post(
        "/api/articles",
        json={"slug": "x", "title": "T", "body": "b", "url": "javascript:alert(1)"},
        headers=headers,
    )
    assert bad.status == 422
    assert (await client.delete(path, headers=headers)).status == 200
    assert (await client.get(path, headers=headers)).status == 404
    # Not a number: 400, as on every route with an id (bot/api/auth.path_int).
    assert (await client.get("/api/articles/abc", headers=headers)).status == 400


async def test_import_markdown_and_zip_uploads(client: TestClient) -> None:
    headers = admin_headers(client)
    markdown = base64.b64encode(b"# Office hours\n\nWe are open 9 to 6.").decode()
    one = await client.post(
        "/api/articles/import",
        json={"filename": "hours.md", "content_base64": markdown},
        headers=headers,
    )
    assert one.status == 200 and (await one.json())["created"] == 1
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a/refunds.md", "# Refunds\n\nWithin 30 days.")
        archive.writestr("b/退款.md", "---\nlanguage: zh\n---\n# 退款\n\n30 天内可退款。")
    zipped = await client.post(
        "/api/articles/import",
        json={
            "filename": "help.zip",
            "content_base64": base64.b64encode(buffer.getvalue()).decode(),
        },
        headers=headers,
    )
    assert zipped.status == 200 and (await zipped.json())["created"] == 2
    broken = await client.post(
        "/api/articles/import",
        json={"filename": "x.md", "content_base64": "not base64!"},
        headers=headers,
    )
    assert broken.status == 400 and "base64" in (await broken.json())["error"]
    wrong = await client.post(
        "/api/articles/import",
        json={"filename": "x.pdf", "content_base64": markdown},
        headers=headers,
    )
    assert wrong.status == 400 and "not an article file" in (await wrong.json())["error"]


async def test_agents_and_strangers_cannot_edit_articles(client: TestClient) -> None:
    assert (await client.get("/api/articles")).status == 401
    page = await client.get("/admin/articles", allow_redirects=False)
    assert page.status in (302, 303) and "/login" in page.headers["Location"]
    await add_user(client, "ann@acme.test")
    token = await sign_in(client, "ann@acme.test")
    refused = await client.post(
        "/api/articles",
        json={"slug": "x", "title": "T", "body": "b"},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status == 403
    assert (await client.get("/admin/articles")).status == 403


async def test_the_admin_page_needs_the_csrf_token_for_writes(client: TestClient) -> None:
    await add_user(client, "boss@acme.test", AgentRole.ADMIN)
    token = await sign_in(client, "boss@acme.test")
    page = await client.get("/admin/articles")
    assert page.status == 200 and "Help-centre articles" in await page.text()
    body = {"slug": "x", "title": "T", "body": "b"}
    assert (await client.post("/api/articles", json=body)).status == 403
    made = await client.post("/api/articles", json=body, headers={"X-CSRF-Token": token})
    assert made.status == 201


async def test_the_answer_links_to_a_public_help_page_and_webchat_gets_buttons(
    client: TestClient,
) -> None:
    visitor = await new_visitor(client)
    status, body = await send(client, visitor, QUESTION)
    assert status == 200
    [reply] = body["replies"]
    assert "/help/en/audit-log" in reply["text"]
    assert reply["text"].endswith("Did that answer your question?")  # buttons, not "(reply …)"
    # The web chat shows buttons from the stored message's meta (MessageView.quick_replies).
    assert [q["payload"] for q in (await _meta(client, reply["id"]))["quick_replies"]] == [
        "yes",
        "no",
    ]
    help_page = await client.get("/help/en/audit-log")
    text = await help_page.text()
    assert help_page.status == 200 and "The admin activity log" in text
    assert "seven years on Enterprise" in text
    assert (await client.get("/help/en/no-such-article")).status == 404
    _, rejected = await send(client, visitor, "no")
    offer = (await _meta(client, rejected["replies"][0]["id"]))["quick_replies"]
    assert [q["payload"] for q in offer] == ["agent"]


async def test_console_suggestions_include_passages_with_their_article(
    client: TestClient,
) -> None:
    visitor = await new_visitor(client)
    _, body = await send(client, visitor, QUESTION)
    response = await client.get(
        f"/api/conversations/{body['conversation_id']}/suggestions",
        headers=admin_headers(client),
    )
    assert response.status == 200
    suggestions = (await response.json())["suggestions"]
    articles = [s for s in suggestions if s["kind"] == "article"]
    assert articles[0]["title"] == "The admin activity log"
    assert articles[0]["url"] == "/help/en/audit-log"
    assert "seven years" in articles[0]["answer"]
    assert articles[0]["answer"].endswith("The admin activity log: /help/en/audit-log")


async def test_reports_count_article_answers_their_feedback_and_weekly_gaps(
    client: TestClient,
) -> None:
    for reply in ("yes", "no"):
        visitor = await new_visitor(client)
        await send(client, visitor, QUESTION)
        await send(client, visitor, reply)
    # Off-topic: answered with what the bot can help with, not a gap in the help centre.
    await send(client, await new_visitor(client), "how do I bake bread")
    await add_user(client, "boss@acme.test", AgentRole.ADMIN)
    await sign_in(client, "boss@acme.test")
    page = await client.get("/admin/reports?days=7")
    text = await page.text()
    assert page.status == 200
    assert "Answered from articles: 2 · confirmed “yes”: 1 · said “no”: 1" in text
    assert "(50% of the judged ones helped)" in text
    week = re.search(r"<tr><td>\d{4}-\d\d-\d\d</td><td>(\d+)</td><td>(\d+)</td>", text)
    assert week is not None and (int(week.group(1)), int(week.group(2))) == (5, 1)
