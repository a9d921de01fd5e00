"""Hostile knowledge-base imports and exports, on both databases: YAML alias bombs, uploads
that would hold the event loop, NUL characters, and CSV cells a spreadsheet would run."""

from __future__ import annotations

import asyncio
import csv
import io
import time

import pytest
from aiohttp.test_utils import TestClient

from knowledge.errors import ImportFormatError
from knowledge.formats import read_csv
from tests.conftest import admin_headers
from tests.hostile_corpus import FORMULA_CELLS, NUL_QUERIES, YAML_ALIAS_BOMB
from tests.test_knowledge_api import NEW_INTENT


async def kb_import(client: TestClient, fmt: str, content: str):  # type: ignore[no-untyped-def]
    return await client.post(
        "/api/kb/import", json={"format": fmt, "content": content}, headers=admin_headers(client)
    )


async def test_a_yaml_alias_bomb_is_refused_with_a_short_error(client: TestClient) -> None:
    assert len(YAML_ALIAS_BOMB.encode()) < 500
    response = await kb_import(client, "yaml", YAML_ALIAS_BOMB)
    body = await response.read()
    assert response.status == 400 and len(body) < 2000
    assert "aliases" in (await response.json())["error"]


async def test_anchors_are_refused_even_when_harmless(client: TestClient) -> None:
    content = (
        "intents:\n  - &pets\n    name: office_pets\n    examples: {en: [a, b, c, d, e]}\n"
        "    answers: {en: [yes]}\n"
    )
    response = await kb_import(client, "yaml", content)
    assert response.status == 400 and "anchors" in (await response.json())["error"]


async def test_error_text_stays_short_whatever_the_upload_holds(client: TestClient) -> None:
    huge_name = "n" * 200_000
    response = await kb_import(client, "yaml", f"intents:\n  - name: {huge_name}\n    x: 1\n")
    assert response.status == 400 and len(await response.read()) < 2000
    response = await kb_import(client, "yaml", "intents: [1, 2]")  # not mappings: was a 500
    assert response.status == 400


async def test_a_large_import_is_parsed_off_the_event_loop(client: TestClient) -> None:
    item = "  - {name: i%d, examples: {en: [aaaa, bbbb, cccc, dddd, eeee]}, x: [1, 2, 3]}\n"
    content = "intents:\n" + "".join(item % n for n in range(1_000))  # ~2 s of parsing
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    response = await kb_import(client, "yaml", content)
    took = time.perf_counter() - started
    ticking.cancel()
    assert response.status == 400  # x is no intent field
    assert took > 0.5, "the upload parsed too fast to show anything"
    # On the event loop, the loop ticked once or twice in all that time; in a worker thread
    # it keeps ticking, stalled only by the garbage collector's pauses (which hold the GIL).
    assert ticks >= 20, f"the event loop ticked {ticks} times in {took:.2f} s"
    assert (await client.get("/healthz")).status == 200


async def test_nul_characters_in_imports_and_queries_get_a_clear_400(client: TestClient) -> None:
    response = await kb_import(
        client, "yaml", 'intents: [{name: pets, examples: {en: ["a\\0b"]}, answers: {en: [x]}}]'
    )
    assert response.status == 400 and "NUL" in (await response.json())["error"]
    with pytest.raises(ImportFormatError, match="NUL"):
        read_csv("intent,kind,text\npets,example,a\x00b\n")  # a file on disk, by the CLI
    for path in NUL_QUERIES:
        response = await client.get(path, headers=admin_headers(client))
        assert response.status == 400, f"{path}: {response.status}"
        assert "NUL" in (await response.json())["error"], path


async def test_csv_export_neutralises_formulas_and_imports_back_unchanged(
    client: TestClient,
) -> None:
    headers = admin_headers(client)
    intent = {**NEW_INTENT, "answers": {"en": FORMULA_CELLS}}
    assert (await client.post("/api/intents", json=intent, headers=headers)).status == 201
    exported = await (await client.get("/api/kb/export?format=csv", headers=headers)).text()
    cells = [row["text"] for row in csv.DictReader(io.StringIO(exported))]
    assert all(cell[:1] not in "=+-@\t" for cell in cells)
    assert "'=HYPERLINK" in exported and "''plain quote" in exported
    response = await kb_import(client, "csv", exported)
    assert await response.json() == {"created": 0, "updated": 0, "deleted": 0}
    stored = await (await client.get("/api/intents/office_pets", headers=headers)).json()
    assert stored["answers"]["en"] == [c.strip() for c in FORMULA_CELLS]
