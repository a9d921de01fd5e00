"""Every route with an id in its path, the web chat's history cursor and the console socket,
given ids no row can have: a clear 404/400 on both databases, never a 500."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import admin_headers
from tests.hostile_corpus import OUT_OF_RANGE_IDS, OUT_OF_RANGE_WATCH
from tests.test_accounts import add_user, sign_in
from tests.test_webchat import new_visitor, send


def id_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route whose path holds {id}, sub-apps included (their
    resources already carry the sub-app's prefix)."""
    found: list[tuple[str, str]] = []
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            found += id_routes(info["app"])
            continue
        template = info.get("formatter", info.get("path", ""))
        if "{id}" in template:
            found += [(route.method, template) for route in resource if route.method != "HEAD"]
    return found


async def test_out_of_range_ids_in_every_path_are_a_clear_4xx(client: TestClient) -> None:
    routes = id_routes(client.app)
    assert len(routes) >= 15, routes  # the walk found the API's id routes
    failures = []
    for method, template in routes:
        for raw in OUT_OF_RANGE_IDS:
            path = template.replace("{id}", raw)
            response = await client.request(method, path, json={}, headers=admin_headers(client))
            if response.status not in {400, 404, 405, 422}:
                failures.append(f"{method} {path[:60]}: {response.status}")
    assert failures == [], "\n".join(failures)
    routed = await client.get("/api/conversations/2147483647", headers=admin_headers(client))
    assert routed.status == 404 and "no conversation" in (await routed.json())["error"]


async def test_out_of_range_history_cursors_are_a_clear_400(client: TestClient) -> None:
    visitor = await new_visitor(client)
    await send(client, visitor, "how much does it cost")
    for raw in OUT_OF_RANGE_IDS:
        if raw == "0":
            continue  # "from the start"
        response = await client.get("/webchat/messages", params={"after": raw}, headers=visitor)
        assert response.status == 400, f"{raw[:30]}: {response.status}"
    everything = await client.get("/webchat/messages", params={"after": "0"}, headers=visitor)
    assert len((await everything.json())["messages"]) >= 2


async def test_out_of_range_watch_frames_get_an_error_frame_and_the_socket_stays_open(
    client: TestClient,
) -> None:
    await add_user(client, "ann@acme.test")
    await sign_in(client, "ann@acme.test")
    async with client.ws_connect("/console/ws") as ws:
        for value in OUT_OF_RANGE_WATCH:
            await ws.send_json({"watch": value})
            frame = await ws.receive_json(timeout=5)
            assert frame["type"] == "error", f"{value!r}: {frame}"
        await ws.send_json({"watch": 2_147_483_647})  # in range, but no such conversation
        assert (await ws.receive_json(timeout=5))["type"] == "error"
        assert not ws.closed
