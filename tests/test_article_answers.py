"""The bot answers from help-centre articles when no intent is confident, asks whether that
helped, and reads the yes/no; articles are stored per language and re-indexed live."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from bot.events import ArticlesChanged, event_from_json
from bot.services import Services
from knowledge.articles.schema import ArticleInput, ArticlePatch
from knowledge.articles.sources import ArticleDraft
from knowledge.articles.store import ArticleExists, ArticleStore, follow_changes
from models import Article, ArticlePassage, Conversation, Message
from tests.test_engine import said, wait_for

NO_INTENT_QUESTION = "how long is the activity log kept on enterprise"


async def _decision(services: Services, message_id: int) -> dict[str, object]:
    async with services.sessions() as session:
        message = await session.get_one(Message, message_id)
        return message.meta["decision"]  # type: ignore[no-any-return]


async def _meta_of_reply(services: Services, reply_id: int) -> dict[str, object]:
    async with services.sessions() as session:
        return (await session.get_one(Message, reply_id)).meta


async def test_a_question_no_intent_covers_gets_the_passage_and_no_offers_a_person(
    services: Services,
) -> None:
    assert services.nlu.parse(NO_INTENT_QUESTION).is_fallback  # what makes this the article path
    asked = await services.engine.receive(said(NO_INTENT_QUESTION))
    [reply] = asked.replies
    assert "seven years on Enterprise" in reply.text
    assert "From “The admin activity log”: /help/en/audit-log" in reply.text
    assert reply.text.endswith("Did that answer your question? (reply yes or no)")
    assert reply.quick_replies == [
        {"title": "Yes", "payload": "yes"},
        {"title": "No", "payload": "no"},
    ]
    meta = await _meta_of_reply(services, reply.id)
    article = await services.articles.find("audit-log", "en")
    assert article is not None and meta["article_id"] == article.id
    decision = await _decision(services, asked.message_id)
    assert decision["action"] == "answer"
    assert decision["signals"]["article"]["article_id"] == article.id  # type: ignore[index]
    async with services.sessions() as session:
        conversation = await session.get_one(Conversation, asked.conversation_id)
        # A passage found by search is a guess until the customer says yes.
        assert conversation.fallback_streak == 1

    rejected = await services.engine.receive(said("no"))
    [offer] = rejected.replies
    assert "Would you like a person from our team" in offer.text
    decision = await _decision(services, rejected.message_id)
    assert decision["action"] == "offer_human"
    assert decision["reason"] == "the customer said the article did not answer their question"
    assert decision["signals"]["rejected_answer"] is True  # type: ignore[index]

    handed = await services.engine.receive(said("agent"))
    assert handed.state == "queued"


async def test_yes_is_recorded_as_a_confirmed_article_answer(services: Services) -> None:
    await services.engine.receive(said(NO_INTENT_QUESTION, user="u2"))
    confirmed = await services.engine.receive(said("Yes!", user="u2"))
    assert confirmed.replies[0].text.startswith("Great, glad that helped")
    decision = await _decision(services, confirmed.message_id)
    assert decision["action"] == "answer"
    assert decision["signals"]["article_feedback"] == "yes"  # type: ignore[index]


async def test_yes_without_an_article_question_is_not_feedback(services: Services) -> None:
    result = await services.engine.receive(said("yes", user="u3"))
    decision = await _decision(services, result.message_id)
    assert "article_feedback" not in decision["signals"]  # type: ignore[operator]


async def test_chinese_question_gets_a_chinese_article(services: Services) -> None:
    result = await services.engine.receive(said("看板有哪些模板", user="u4"))
    [reply] = result.replies
    assert "来自《Acme Projects 看板入门》" in reply.text
    assert "内容日历" in reply.text
    assert reply.quick_replies == [
        {"title": "是", "payload": "yes"},
        {"title": "否", "payload": "no"},
    ]
    negative = await services.engine.receive(said("没用", user="u4"))
    assert "转接人工客服" in negative.replies[0].text


async def test_off_topic_falls_back_and_a_confident_intent_still_wins(services: Services) -> None:
    bread = await services.engine.receive(said("how do I bake bread", user="u5"))
    assert bread.replies[0].text.startswith("That's outside what I can help with")
    assert bread.replies[0].quick_replies is None
    reset = await services.engine.receive(said("how do I reset my password?", user="u6"))
    assert "Forgot password" in reset.replies[0].text
    assert "article" not in (await _decision(services, reset.message_id))["signals"]  # type: ignore[operator]


async def test_an_edit_is_searchable_at_once_here_and_in_another_process(
    services: Services,
) -> None:
    other = ArticleStore(services.sessions, services.bus)  # a second process's store
    async with follow_changes(other, services.bus):
        assert (await other.library()).passage_count > 0
        created = await services.articles.create(
            ArticleInput(
                slug="parking",
                title="Parking at the Acme office",
                body="# Visitors\n\nVisitors park in lot B behind the blue building.",
            ),
            actor="admin@example.com",
        )
        assert [p.text for p in created.passages] == [
            "Visitors park in lot B behind the blue building."
        ]
        question = "where do visitors leave their car at the office"
        hit = (await services.articles.library()).lookup(question, "en").answer
        assert hit is not None and "lot B" in hit.passage.text

        async def other_sees(text: str) -> bool:
            found = (await other.library()).lookup(question, "en").answer
            return found is not None and text in found.passage.text

        await wait_for(lambda: other_sees("lot B"))
        await services.articles.update(
            created.id,
            ArticlePatch(body="Visitors park in lot C next to the red gate."),
            actor="admin@example.com",
            expected_version=1,
        )
        await wait_for(lambda: other_sees("lot C"))
        await services.articles.delete(created.id, actor="admin@example.com")

        async def gone() -> bool:
            found = (await other.library()).lookup(question, "en").hits
            return all(h.passage.article_id != created.id for h in found)

        await wait_for(gone)


async def test_an_edit_behind_deskbots_back_is_picked_up_by_the_age_check(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    article = await services.articles.find("audit-log", "en")
    assert article is not None
    await services.articles.library()
    async with services.sessions() as session:
        await session.execute(
            update(ArticlePassage)
            .where(ArticlePassage.article_id == article.id)
            .values(text="Entries are kept for ninety-nine years.")
        )
        await session.execute(
            update(Article).where(Article.id == article.id).values(version=Article.version + 1)
        )
        await session.commit()
    monkeypatch.setattr("knowledge.articles.store.SNAPSHOT_MAX_AGE_S", 0.05)
    await asyncio.sleep(0.1)

    async def rebuilt() -> bool:
        hit = (await services.articles.library()).lookup(NO_INTENT_QUESTION, "en").answer
        return hit is not None and "ninety-nine" in hit.passage.text

    await wait_for(rebuilt)


async def test_import_creates_updates_and_replaces(services: Services) -> None:
    drafts = [
        ArticleDraft("one", "One", "First text.", None, "en"),
        ArticleDraft("one", "一", "第一。", None, "zh"),
    ]
    first = await services.articles.import_drafts(drafts, "cli", replace=True)
    assert first["created"] == 2 and first["deleted"] > 0
    drafts[0] = ArticleDraft("one", "One", "First text, edited.", "https://h.example/1", "en")
    second = await services.articles.import_drafts(drafts, "cli")
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 1, 1)
    async with services.sessions() as session:
        rows = (await session.scalars(select(Article).order_by(Article.language))).all()
        assert [(r.slug, r.language, r.version) for r in rows] == [
            ("one", "en", 2),
            ("one", "zh", 1),
        ]
    with pytest.raises(ArticleExists, match="already exists"):
        await services.articles.create(
            ArticleInput(slug="one", language="zh", title="重复", body="重复。"), actor="a"
        )


def test_the_change_event_crosses_processes_intact() -> None:
    event = ArticlesChanged(article_id=7, action="update")
    assert event_from_json(event.to_json()) == event
