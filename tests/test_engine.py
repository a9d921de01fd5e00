"""The conversation engine against real databases: states, dedupe, escalation, silence."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.services import Services, build_services, running
from bot.settings import Settings
from bot.states import StateConflict
from channels.base import InboundMessage, InvalidMessage
from models import Agent, Conversation, Message, OutboxItem, OutboxStatus
from tests.conftest import RecordingChannel, eventually


def said(text: str, user: str = "u1", external_id: str | None = None) -> InboundMessage:
    return InboundMessage("test", user, f"thread-{user}", external_id or uuid.uuid4().hex, text)


async def add_agent(services: Services, email: str = "ann@example.com") -> int:
    async with services.sessions() as session:
        agent = Agent(email=email, name=email.split("@")[0])
        session.add(agent)
        await session.commit()
        return agent.id


async def count(services: Services, model: type) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def wait_for(predicate, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_faq_question_gets_its_answer_in_its_language(services: Services) -> None:
    english = await services.engine.receive(said("how do I reset my password?"))
    chinese = await services.engine.receive(said("我忘记密码了怎么办", user="u2"))
    assert english.state == "bot"
    assert "Forgot password" in english.replies[0].text
    assert "忘记密码" in chinese.replies[0].text


async def test_replies_are_delivered_through_the_outbox(
    services: Services, channel: RecordingChannel
) -> None:
    await services.engine.receive(said("what payment methods do you accept"))

    async def delivered() -> bool:
        return len(channel.sent) == 1

    await wait_for(delivered)
    assert channel.sent[0][0] == "thread-u1"
    assert "PayPal" in channel.sent[0][1]


async def test_duplicate_delivery_is_stored_once_and_answered_once(services: Services) -> None:
    first = await services.engine.receive(said("how much does it cost", external_id="m-1"))
    again = await services.engine.receive(said("how much does it cost", external_id="m-1"))
    assert not first.duplicate and again.duplicate
    assert again.message_id == first.message_id and again.replies == []
    assert await count(services, Message) == 2  # the question and one answer
    assert await count(services, OutboxItem) == 1


async def test_concurrent_duplicates_store_one_message(services: Services) -> None:
    results = await asyncio.gather(
        *(services.engine.receive(said("hello", external_id="same")) for _ in range(5))
    )
    assert len({r.message_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    async with services.sessions() as session:
        inbound = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
    assert inbound == 1
    assert await count(services, OutboxItem) == 1  # and answered once, not once per delivery
    assert sum(len(r.replies) for r in results) == 1


async def test_asking_for_a_person_escalates_with_a_reason(services: Services) -> None:
    result = await services.engine.receive(said("I want to talk to a human"))
    assert result.state == "queued"
    async with services.sessions() as session:
        conversation = await session.get_one(Conversation, result.conversation_id)
    assert conversation.escalation_reason == "customer asked for a person"
    assert conversation.escalated_at is not None


async def test_chinese_request_for_a_person_escalates(services: Services) -> None:
    result = await services.engine.receive(said("转人工"))
    assert result.state == "queued"
    assert "人工" in result.replies[0].text


async def test_two_misunderstood_messages_in_a_row_escalate(services: Services) -> None:
    first = await services.engine.receive(said("xqzt vvlk prrf"))
    assert first.state == "bot" and "didn't quite get that" in first.replies[0].text
    second = await services.engine.receive(said("blorp znag wibble"))
    assert second.state == "queued"
    async with services.sessions() as session:
        conversation = await session.get_one(Conversation, second.conversation_id)
    assert (conversation.escalation_reason or "").startswith(
        "bot did not understand 2 messages in a row"
    )


async def test_an_understood_message_resets_the_fallback_streak(services: Services) -> None:
    await services.engine.receive(said("xqzt vvlk prrf"))
    await services.engine.receive(said("how do I reset my password"))
    third = await services.engine.receive(said("blorp znag wibble"))
    assert third.state == "bot"


async def test_while_queued_the_bot_acknowledges_once_and_answers_clear_questions(
    services: Services,
) -> None:
    """Never a dead end while waiting, and silent once a person has the chat."""
    escalated = await services.engine.receive(said("agent please"))
    acknowledged = await services.engine.receive(said("my files are all gone, please hurry"))
    assert acknowledged.state == "queued"
    (ack,) = acknowledged.replies
    assert ack.sender_kind == "bot" and "a person will read this" in ack.text
    quiet = await services.engine.receive(said("hello??"))
    assert quiet.state == "queued" and quiet.replies == []
    waiting = await services.engine.receive(said("how do I reset my password"))
    assert waiting.state == "queued"
    (answer,) = waiting.replies
    steps = await services.knowledge.answer("reset_password", "en")
    assert answer.text.startswith("While you wait for a person") and str(steps) in answer.text
    irreversible = await services.engine.receive(said("delete my account"))
    assert irreversible.replies == []  # no delete steps without the confirmation
    agent_id = await add_agent(services)
    await services.engine.claim(escalated.conversation_id, agent_id)
    owned = await services.engine.receive(said("how do I reset my password"))
    assert owned.state == "agent" and owned.replies == []


async def test_exactly_one_of_many_concurrent_claims_wins(services: Services) -> None:
    escalated = await services.engine.receive(said("agent please"))
    agents = [await add_agent(services, f"a{i}@example.com") for i in range(6)]
    outcomes = await asyncio.gather(
        *(services.engine.claim(escalated.conversation_id, a) for a in agents),
        return_exceptions=True,
    )
    winners = [a for a, o in zip(agents, outcomes, strict=True) if o is None]
    assert len(winners) == 1
    assert all(isinstance(o, StateConflict) for o in outcomes if o is not None)
    async with services.sessions() as session:
        conversation = await session.get_one(Conversation, escalated.conversation_id)
    assert conversation.assigned_agent_id == winners[0]


async def test_claim_during_the_bots_turn_keeps_the_bot_silent(services: Services) -> None:
    """An agent claims while the NLU is thinking: the bot's answer must not be sent."""
    first = await services.engine.receive(said("hello"))
    agent_id = await add_agent(services)
    real_parse = services.nlu.parse_async

    async def parse_while_agent_claims(text: str):  # type: ignore[no-untyped-def]
        result = await real_parse(text)
        await services.engine.claim(first.conversation_id, agent_id)
        return result

    services.nlu.parse_async = parse_while_agent_claims  # type: ignore[method-assign]
    try:
        raced = await services.engine.receive(said("how do I reset my password"))
    finally:
        services.nlu.parse_async = real_parse  # type: ignore[method-assign]
    assert raced.replies == [] and raced.state == "agent"
    async with services.sessions() as session:
        bot_replies = await session.scalar(
            select(func.count()).select_from(Message).where(Message.sender_kind == "bot")
        )
        handled = await session.get_one(Message, raced.message_id)
    assert bot_replies == 1  # only the greeting
    assert handled.handled_at is not None


async def test_agent_reply_hand_back_and_resolve(services: Services) -> None:
    escalated = await services.engine.receive(said("agent please"))
    conversation_id = escalated.conversation_id
    agent_id = await add_agent(services)
    other = await add_agent(services, "bob@example.com")
    await services.engine.claim(conversation_id, agent_id)
    with pytest.raises(StateConflict):
        await services.engine.agent_reply(conversation_id, other, "I'm not yours")
    reply = await services.engine.agent_reply(conversation_id, agent_id, "Hi, Ann here.")
    assert reply.sender_kind == "agent"
    await services.engine.hand_back(conversation_id, agent_id)
    back = await services.engine.receive(said("how do I reset my password"))
    assert back.state == "bot" and back.replies
    await services.engine.resolve(conversation_id, "ann")
    async with services.sessions() as session:
        conversation = await session.get_one(Conversation, conversation_id)
    assert conversation.state == "resolved" and conversation.first_human_response_at


async def test_a_message_on_a_resolved_conversation_reopens_it_with_the_bot(
    services: Services,
) -> None:
    first = await services.engine.receive(said("hello"))
    await services.engine.resolve(first.conversation_id, "system")
    again = await services.engine.receive(said("how much does it cost"))
    assert again.conversation_id == first.conversation_id
    assert again.state == "bot" and "per user" in again.replies[0].text


async def test_reopening_a_chat_an_agent_resolved_leaves_it_owned_by_nobody(
    services: Services,
) -> None:
    """Found by the state-machine test: the bot had the chat back but it still named an agent."""
    agent_id = await add_agent(services)
    first = await services.engine.receive(said("I want to talk to a human"))
    await services.engine.claim(first.conversation_id, agent_id)
    await services.engine.resolve(first.conversation_id, "ann")
    again = await services.engine.receive(said("how much does it cost"))
    async with services.sessions() as session:
        conversation = await session.get_one(Conversation, again.conversation_id)
    assert conversation.state == "bot" and conversation.assigned_agent_id is None


async def test_message_stored_before_a_crash_is_answered_when_redelivered(
    services: Services,
) -> None:
    """Simulates a crash after storing the message and before the bot's turn committed."""
    first = await services.engine.receive(said("hello", external_id="crash-1"))

    async def delivered() -> bool:
        async with services.sessions() as session:
            sent = OutboxItem.status == OutboxStatus.SENT.value
            return bool(await session.scalar(select(func.count()).where(sent)))

    # The live outbox worker would otherwise race the tampering below for the same rows
    # (a deadlock on PostgreSQL); after a real crash there is no worker.
    await wait_for(delivered)
    async with services.sessions() as session:
        message = await session.get_one(Message, first.message_id)
        message.handled_at = None
        for reply in (
            await session.scalars(select(Message).where(Message.direction == "out"))
        ).all():
            await session.delete(reply)
        await session.commit()
    replayed = await services.engine.receive(said("hello", external_id="crash-1"))
    assert replayed.duplicate and len(replayed.replies) == 1
    once_more = await services.engine.receive(said("hello", external_id="crash-1"))
    assert once_more.replies == []


async def test_a_message_stored_but_never_answered_is_answered_once_by_the_sweep(
    services: Services, channel: RecordingChannel
) -> None:
    """A channel that acks once the message is stored (Slack) cannot count on a redelivery."""
    accepted = await services.engine.accept(said("how much does it cost", external_id="lost-1"))
    assert accepted.needs_bot  # ... and the process dies before the bot's turn
    engine = services.engine
    assert await engine.answer_unanswered(timedelta(0), timedelta(hours=1)) == 1

    async def delivered() -> bool:
        return len(channel.sent) == 1

    await wait_for(delivered)
    assert "per user" in channel.sent[0][1]
    assert await engine.answer_unanswered(timedelta(0), timedelta(hours=1)) == 0
    stale = await engine.accept(said("hello", external_id="lost-2"))
    async with services.sessions() as session:
        message = await session.get_one(Message, stale.message.id)
        message.created_at = message.created_at - timedelta(hours=2)
        await session.commit()
    assert await engine.answer_unanswered(timedelta(0), timedelta(hours=1)) == 0  # for agents
    fresh = await engine.accept(said("hello", external_id="lost-3"))
    assert await engine.answer_unanswered(timedelta(minutes=1), timedelta(hours=1)) == 0
    assert (await engine.answer(fresh)).replies  # its own turn, still in its grace period
    assert await count(services, OutboxItem) == 2


async def test_a_running_server_catches_up_on_its_own(
    make_settings: Callable[..., Settings], channel: RecordingChannel
) -> None:
    """What a restart after a crash looks like: the message is in the database, unanswered."""
    settings = make_settings(unanswered_after_s=0.2)
    async with running(build_services(settings, {channel.name: channel})) as first:
        await first.engine.accept(said("what payment methods do you accept", external_id="x-1"))
    assert channel.sent == []  # the process "died" before the bot's turn
    async with running(build_services(settings, {channel.name: channel})):
        await eventually(lambda: channel.sent)
    assert len(channel.sent) == 1 and "PayPal" in channel.sent[0][1]


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x01"])
async def test_empty_messages_are_refused_and_nothing_is_stored(
    services: Services, text: str
) -> None:
    with pytest.raises(InvalidMessage):
        await services.engine.receive(said(text))
    assert await count(services, Message) == 0


async def test_oversized_message_is_refused(services: Services) -> None:
    with pytest.raises(InvalidMessage, match="limit"):
        await services.engine.receive(said("a" * 5000))
    assert await count(services, Message) == 0


async def test_nul_and_control_characters_are_stripped_before_storage(services: Services) -> None:
    result = await services.engine.receive(said("how do I\x00 reset my password\x07"))
    async with services.sessions() as session:
        stored = await session.get_one(Message, result.message_id)
    assert stored.text == "how do I reset my password"


async def test_sql_in_a_message_is_just_text(services: Services) -> None:
    hostile = "'); DROP TABLE messages; --"
    result = await services.engine.receive(said(hostile))
    async with services.sessions() as session:
        stored = await session.get_one(Message, result.message_id)
    assert stored.text == hostile
    assert await count(services, Message) >= 2


async def test_resolve_asks_for_a_rating_and_a_rating_does_not_reopen(services: Services) -> None:
    first = await services.engine.receive(said("hello"))
    await services.engine.resolve(first.conversation_id, "ann")
    rated = await services.engine.receive(said("4"))
    assert rated.state == "resolved" and "Thank you for your rating" in rated.replies[0].text
    async with services.sessions() as session:
        conversation = await session.get_one(Conversation, first.conversation_id)
        texts = (
            await session.scalars(
                select(Message.text).where(Message.conversation_id == first.conversation_id)
            )
        ).all()
    assert conversation.csat == 4
    assert any("1 (not at all) to 5" in t for t in texts)
    again = await services.engine.receive(said("5"))  # already rated: a new question
    assert again.state == "bot"


async def test_parses_asked_for_together_run_as_one_batch_with_the_same_results(
    services: Services,
) -> None:
    texts = ["how do I reset my password", "what payment methods do you accept?", "qwzx plorf"]
    model = services.nlu._model
    assert model is not None
    calls: list[int] = []
    real_read_many = model.read_many

    def counted(batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        return real_read_many(batch)

    model.read_many = counted  # type: ignore[method-assign]
    try:
        together = await asyncio.gather(*(services.nlu.parse_async(t) for t in texts))
    finally:
        model.read_many = real_read_many  # type: ignore[method-assign]
    assert calls == [3]
    assert together == [services.nlu.parse(t) for t in texts]


async def test_what_the_customer_went_through_raises_their_live_churn_risk(
    services: Services,
) -> None:
    """Read from the database in the transaction that stores the message: earlier escalations
    and chats still waiting for a person count; the current conversation does not."""
    first = await services.engine.receive(said("how much does it cost", user="u9"))
    async with services.sessions() as session:
        message = await session.get_one(Message, first.message_id)
        calm_risk = message.meta["decision"]["signals"]["churn_risk"]
    escalated = await services.engine.receive(
        InboundMessage("test", "u9", "thread-u9-b", uuid.uuid4().hex, "I want a human agent")
    )
    assert escalated.state == "queued"
    later = await services.engine.receive(
        InboundMessage("test", "u9", "thread-u9-c", uuid.uuid4().hex, "how much does it cost")
    )
    async with services.sessions() as session:
        message = await session.get_one(Message, later.message_id)
        risk = message.meta["decision"]["signals"]["churn_risk"]
    # one escalation (+0.1) and one unresolved chat (+0.1) on top of the 0.1 baseline
    assert calm_risk == pytest.approx(0.1)
    assert risk == pytest.approx(1 - 0.9 * 0.9 * 0.9, abs=1e-3)
