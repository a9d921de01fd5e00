"""Issue 16's "done when", in real Chromium against PostgreSQL: an admin imports a folder of
Markdown articles; a customer asks what no intent covers and gets the passage with its link,
answers "no" and is offered a person; the admin turns a gap into an intent in one click on
the gaps page, and the customer's next paraphrase is answered by it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import expect

from bot import keys
from tests.test_console_browser import ARTIFACTS, WAIT_MS, Site, say, site  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

REFERRAL_ANSWER = "Invite friends from Settings, Referrals: you both get 10 dollars of credit."


async def test_import_answer_reject_offer_and_a_gap_made_an_intent(
    site: Site,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    folder = tmp_path / "help"
    folder.mkdir()
    (folder / "parking.md").write_text(
        "# Parking at the Acme office\n\n## Visitors\n\n"
        "Visitors park in lot B behind the blue building; the gate opens with the code 4711.\n",
        encoding="utf-8",
    )
    (folder / "lunch.md").write_text(
        "# Lunch at the office\n\nThe canteen on the ground floor serves lunch from noon to two.\n",
        encoding="utf-8",
    )
    admin = await site.signed_in("admin@acme.test")
    await admin.goto(site.url("/admin/articles"))
    await admin.set_input_files(
        "#import-file", [str(folder / "parking.md"), str(folder / "lunch.md")]
    )
    await expect(admin.locator("#import-result")).to_contain_text("created 2", timeout=WAIT_MS)
    await expect(admin.locator("#articles")).to_contain_text("Parking at the Acme office")

    customer = await site.customer()
    await say(customer, "where do visitors park")
    answer = customer.locator(".deskbot-out", has_text="lot B behind the blue building")
    await expect(answer).to_be_visible(timeout=WAIT_MS)
    await expect(answer).to_contain_text("/help/en/parking")
    await expect(answer).to_contain_text("Did that answer your question?")
    await say(customer, "no")
    offer = customer.locator(".deskbot-out", has_text="Would you like a person from our team")
    await expect(offer).to_be_visible(timeout=WAIT_MS)
    await customer.screenshot(path=str(ARTIFACTS / "article-answer-rejected.png"))

    asker = await site.customer()  # someone else, whose questions no article answers
    replies = asker.locator(".deskbot-out")
    for question in (
        "do you have a referral program",
        "is there a referral bonus for inviting friends",
    ):
        before = await replies.count()
        await say(asker, question)  # the bot cannot answer (the second one escalates)
        await expect(replies.nth(before)).to_be_visible(timeout=WAIT_MS)

    await admin.goto(site.url("/admin/gaps"))
    gap = admin.locator("article.gap", has_text="do you have a referral program")
    await expect(gap).to_be_visible(timeout=WAIT_MS)
    await gap.locator("input[aria-label='Intent name']").fill("referrals")
    await gap.locator("textarea[aria-label='Answer']").fill(REFERRAL_ANSWER)
    await gap.locator("button.create-intent").click()
    await expect(admin.locator("#gap-done")).to_contain_text(
        "Created intent referrals", timeout=WAIT_MS
    )
    await admin.screenshot(path=str(ARTIFACTS / "gaps-page.png"))

    nlu = site.server.app[keys.NLU]
    for _ in range(120):  # the model retrains in the background (a few seconds of CPU)
        if await nlu.knows("referrals"):
            break
        await asyncio.sleep(0.5)
    later = await site.customer()
    await say(later, "how does your referral program work")
    await expect(later.locator(".deskbot-out", has_text=REFERRAL_ANSWER).first).to_be_visible(
        timeout=WAIT_MS
    )
