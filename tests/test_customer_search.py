"""Customer search through the admin API: substrings of name and email from an index, ids,
short queries within a bounded window, and text that is LIKE or FTS syntax taken literally."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import insert

from bot import keys
from bot.customer_search import SHORT_QUERY_WINDOW
from models import Customer
from tests.conftest import admin_headers

PEOPLE = [
    ("Grace Hopper", "grace@navy.test"),
    ("Ada Lovelace", "ada@engines.test"),
    ("张伟", "zhang.wei@example.cn"),
    ("100% Real Ltd", "sales@real_deal.test"),
    ('Dwayne "The Rock" Johnson', None),
    ("Zoë Ångström", "zoe@accents.test"),
]


async def add_people(client: TestClient, filler: int = 0) -> dict[str, int]:
    async with client.app[keys.SESSIONS]() as session:
        ids = {}
        for name, email in PEOPLE:
            result = await session.execute(
                insert(Customer).values(display_name=name, email=email).returning(Customer.id)
            )
            ids[name] = result.scalar_one()
        if filler:
            rows = [{"display_name": f"filler {i}", "email": None} for i in range(filler)]
            await session.execute(insert(Customer), rows)
        await session.commit()
    return ids


async def found(client: TestClient, query: str) -> list[str]:
    response = await client.get(
        "/api/customers", params={"q": query}, headers=admin_headers(client)
    )
    assert response.status == 200, await response.text()
    return [c["display_name"] for c in (await response.json())["customers"]]


async def test_a_customer_is_found_by_part_of_their_name_or_email(client: TestClient) -> None:
    ids = await add_people(client)
    assert await found(client, "hopp") == ["Grace Hopper"]
    assert await found(client, "LOVELACE") == ["Ada Lovelace"]
    assert await found(client, "@engines") == ["Ada Lovelace"]
    assert await found(client, "张伟") == ["张伟"]  # two characters: the newest customers
    assert await found(client, "zhang.wei") == ["张伟"]
    by_id = await found(client, str(ids["Grace Hopper"]))  # also a substring of "100% ..."
    assert by_id[-1] == "Grace Hopper"
    assert await found(client, "nobody-like-this") == []
    assert await found(client, "4155552671") == []  # a phone number: beyond any id
    assert await found(client, "9" * 40) == []


async def test_search_text_is_taken_literally(client: TestClient) -> None:
    await add_people(client)
    assert await found(client, "100%") == ["100% Real Ltd"]
    assert await found(client, "l_deal") == ["100% Real Ltd"]  # `_` is not a wildcard
    assert await found(client, "%%%") == []
    assert await found(client, '"The Rock"') == ['Dwayne "The Rock" Johnson']
    for hostile in ("' OR 1=1 --", "NEAR(a b)", "grace*", "a AND b", "\\", "^x", "²", "①"):
        assert await found(client, hostile) == [], hostile


async def test_an_erased_customer_is_not_found_by_their_old_name(client: TestClient) -> None:
    ids = await add_people(client)
    customer = ids["Ada Lovelace"]
    response = await client.post(
        f"/api/customers/{customer}/erase",
        json={"confirm": customer},
        headers=admin_headers(client),
    )
    assert response.status == 200
    assert await found(client, "lovelace") == []
    assert await found(client, "engines") == []
    assert await found(client, str(customer)) == [""]


async def test_a_short_query_searches_only_the_newest_customers(client: TestClient) -> None:
    await add_people(client, filler=SHORT_QUERY_WINDOW)
    assert await found(client, "Zo") == []  # older than the newest window
    assert await found(client, "Zoë") == ["Zoë Ångström"]  # three characters: the index
    page = await client.get("/admin/customers?q=Zo")
    assert page.status in {200, 302, 303}
