"""The escalation policy over realistic conversations, through the real engine and models."""

from __future__ import annotations

import csv
import math
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.nlu.rejection import rejects_answer
from bot.services import Services, churn_dir
from channels.base import InboundMessage
from escalation.churn import ChurnModel, ChurnScorer, evaluate_churn, read_customers
from escalation.sentiment import Label, SentimentAnalyzer, trend
from models import Conversation, Customer, CustomerIdentity, Message


@dataclass
class Case:
    name: str
    turns: list[str]
    state: str
    reason: str | None = None
    tier: str = "standard"
    attributes: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("calm question the bot answers", ["hi", "how do I reset my password?", "thanks!"], "bot"),
    Case(
        "angry VIP",
        ["my invoice is wrong", "I was CHARGED TWICE and still no refund!!! This is ridiculous"],
        "queued",
        reason="vip customer",
        tier="vip",
    ),
    Case(
        "customer asks for a person in Chinese",
        ["你好", "转人工"],
        "queued",
        "customer asked for a person",
    ),
    Case(
        "repeated fallbacks",
        ["xqzt vvlk prrf", "blorp znag wibble"],
        "queued",
        "bot did not understand 2 messages in a row",
    ),
    Case(
        "high churn risk with a mild complaint",
        ["the sync is a bit slow today"],
        "queued",
        "churn risk",
        attributes={"plan": "monthly", "tenure": "1", "seats": "1"},
    ),
    Case(
        "same mild complaint from a loyal customer stays with the bot",
        ["the sync is a bit slow today"],
        "bot",
        attributes={"plan": "yearly", "tenure": "60", "seats": "40"},
    ),
    Case(
        "answers rejected twice",
        ["my files are not syncing", "that didn't help", "still not what I asked"],
        "queued",
        "rejected the bot's answers twice",
    ),
]


def synthetic_customers(path: Path, count: int = 600) -> Path:
    """Made-up customers: monthly plans and short tenure churn (a logistic ground truth)."""
    rng = random.Random(3)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "plan", "tenure", "seats", "churned"])
        for i in range(count):
            plan = rng.choice(["monthly", "yearly"])
            tenure = rng.randint(1, 72)
            seats = rng.randint(1, 50)
            logit = -1.0 + 2.5 * (plan == "monthly") - 0.07 * tenure
            risk = 1 / (1 + math.exp(-logit))
            writer.writerow(
                [f"c{i}@example.com", plan, tenure, seats, "Yes" if rng.random() < risk else "No"]
            )
    return path


@pytest.fixture
def churn_trained(services: Services, tmp_path: Path) -> None:
    rows = read_customers(synthetic_customers(tmp_path / "customers.csv"))
    ChurnModel.train(rows, "churned", "email").save(churn_dir(services.settings))
    services.churn.reload()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_policy_over_conversations(
    services: Services, churn_trained: None, case: Case
) -> None:
    user = uuid.uuid4().hex
    async with services.sessions() as session:  # the profile the CRM import gave the customer
        customer = Customer(display_name=case.name, tier=case.tier, attributes=case.attributes)
        session.add(customer)
        await session.flush()
        session.add(CustomerIdentity(customer_id=customer.id, channel="test", external_user=user))
        await session.commit()
    for text in case.turns:
        result = await services.engine.receive(
            InboundMessage("test", user, user, uuid.uuid4().hex, text)
        )
    async with services.sessions() as session:
        conversation = await session.get_one(Conversation, result.conversation_id)
    assert conversation.state == case.state, conversation.escalation_reason
    if case.reason:
        assert case.reason in (conversation.escalation_reason or "")
    if case.state == "queued":
        assert conversation.priority > 0 and conversation.team


async def test_every_decision_is_stored_with_its_signals(services: Services) -> None:
    result = await services.engine.receive(
        InboundMessage("test", "u", "u", "m1", "I want a refund, charged twice!!!")
    )
    async with services.sessions() as session:
        message = await session.get_one(Message, result.message_id)
    decision = message.meta["decision"]
    assert decision["signals"]["topic"] == "billing"
    assert decision["signals"]["sentiment"] < 0
    assert message.sentiment is not None and message.sentiment < 0


async def test_bot_never_speaks_after_a_claim_even_to_an_angry_customer(services: Services) -> None:
    from tests.test_engine import add_agent

    escalated = await services.engine.receive(
        InboundMessage("test", "x", "x", "e1", "agent please")
    )
    await services.engine.claim(escalated.conversation_id, await add_agent(services))
    for i, text in enumerate(["hello??", "WHERE ARE YOU!!!", "how do I reset my password"]):
        result = await services.engine.receive(InboundMessage("test", "x", "x", f"a{i}", text))
        assert result.replies == [] and result.state == "agent"
    async with services.sessions() as session:
        bot_messages = (
            await session.scalars(
                select(Message).where(
                    Message.conversation_id == escalated.conversation_id,
                    Message.sender_kind == "bot",
                )
            )
        ).all()
    assert len(bot_messages) == len(escalated.replies) == 2  # handoff and queue notice only


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("still not fixed!!! third time I ask", Label.NEGATIVE),
        ("Thanks a lot for nothing, been waiting 3 hours on hold", Label.NEGATIVE),
        ("My flight was delayed again", Label.NEGATIVE),
        ("Thank you so much, that was really helpful!", Label.POSITIVE),
        ("how do I change my email address", Label.NEUTRAL),
        ("还是没解决，第三次了！！", Label.NEGATIVE),
        ("太好了，谢谢你的帮助", Label.POSITIVE),
        ("怎么修改邮箱地址", Label.NEUTRAL),
    ],
)
def test_sentiment_reads_customer_service_text(text: str, label: Label) -> None:
    assert SentimentAnalyzer().score(text).label is label


def test_vader_alone_misses_what_we_catch() -> None:
    analyzer = SentimentAnalyzer()
    text = "still not fixed!!! third time I ask"
    assert analyzer.vader_only(text).label is Label.NEUTRAL
    assert analyzer.score(text).label is Label.NEGATIVE


def test_trend_counts_negative_messages_in_a_row() -> None:
    assert trend([0.5, -0.4, -0.6]).negative_streak == 2
    assert trend([-0.4, 0.3]).negative_streak == 0
    assert trend([]).negative_streak == 0


@pytest.mark.parametrize(
    ("text", "rejected"),
    [
        ("that didn't help", True),
        ("This does not answer my question", True),
        ("没用", True),
        ("that helped, thanks", False),
        ("how do I reset my password", False),
    ],
)
def test_rejections_are_recognised(text: str, rejected: bool) -> None:
    assert rejects_answer(text) is rejected


def test_churn_model_learns_ranks_and_explains(tmp_path: Path) -> None:
    rows = read_customers(synthetic_customers(tmp_path / "c.csv"))
    evaluation = evaluate_churn(rows, "churned", "email")
    assert evaluation.roc_auc > 0.8
    assert 0 < evaluation.precision <= 1 and 0 < evaluation.recall <= 1
    model = ChurnModel.train(rows, "churned", "email")
    risky = model.score({"plan": "monthly", "tenure": "2", "seats": "3"})
    loyal = model.score({"plan": "yearly", "tenure": "60", "seats": "3"})
    assert risky.risk > 0.5 > loyal.risk
    assert {f.feature for f in risky.factors} & {"plan", "tenure"}
    assert "churn risk" in risky.explain()
    model.save(tmp_path / "m")
    assert ChurnScorer(tmp_path / "m").score({"plan": "monthly", "tenure": "2", "seats": "3"})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("email,plan,churned\na,monthly,No\nb,yearly,No\n", "one class"),
        ("email,plan\na,monthly\n", "no column"),
    ],
)
def test_churn_data_problems_are_clear(tmp_path: Path, content: str, problem: str) -> None:
    from escalation.churn import ChurnDataError

    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ChurnDataError, match=problem):
        ChurnModel.train(read_customers(path), "churned", "email")


def test_live_signals_raise_risk_and_name_their_factors() -> None:
    from escalation.churn import ChurnScore, Factor
    from escalation.live_risk import BASELINE, LiveSignals, combine

    quiet = combine(None, LiveSignals(1, 0, 0, 0.0))
    assert quiet.risk == BASELINE and quiet.factors == ()
    troubled = combine(
        ChurnScore(0.5, (Factor("Contract", "Month-to-month", 0.9),)), LiveSignals(5, 2, 1, -0.6)
    )
    assert troubled.risk == 0.7084  # stay 0.5 × (1-0.2) × (1-0.1)³
    assert {f.feature for f in troubled.factors} >= {"Contract", "escalations in 30 days"}


async def test_past_escalations_count_towards_churn_risk(services: Services) -> None:
    for thread in ("t1", "t2"):
        result = await services.engine.receive(
            InboundMessage("test", "repeat", thread, uuid.uuid4().hex, "agent please")
        )
        await services.engine.resolve(result.conversation_id, "test")
    third = await services.engine.receive(
        InboundMessage("test", "repeat", "t3", uuid.uuid4().hex, "how much does it cost")
    )
    async with services.sessions() as session:
        message = await session.get_one(Message, third.message_id)
    assert message.meta["decision"]["signals"]["churn_risk"] > 0.25


def _nlu(outcome: str, intent: str = "reset_password", confidence: float = 0.95):  # type: ignore[no-untyped-def]
    from bot.nlu.result import IntentScore, NluResult, Outcome

    return NluResult(
        intent, confidence, (IntentScore(intent, confidence),), Outcome(outcome), "local", "v"
    )


def _signals(text: str, outcome: str = "confident", **extra: object):  # type: ignore[no-untyped-def]
    from escalation.message_cues import read_cues
    from escalation.policy import Signals

    sentiment = SentimentAnalyzer().score(text)
    return Signals(
        nlu=_nlu(outcome),
        fallback_streak=extra.pop("fallback_streak", 0),  # type: ignore[arg-type]
        sentiment=sentiment,
        trend=trend([sentiment.score]),
        rejected_answer=rejects_answer(text),
        cues=read_cues(text),
        **extra,  # type: ignore[arg-type]
    )


def test_off_topic_is_not_a_failure_and_keeps_the_streak() -> None:
    from escalation.policy import Action, PolicySettings, decide

    decision = decide(
        _signals("is it going to rain in Berlin?", "out_of_scope", fallback_streak=1),
        PolicySettings(),
    )
    assert decision.action is Action.OUT_OF_SCOPE and decision.fallback_streak == 1
    fallback = decide(_signals("blorp", "fallback", fallback_streak=1), PolicySettings())
    assert fallback.action is Action.ESCALATE  # a real miss after a miss goes to a person


def test_an_irreversible_intent_asks_for_confirmation() -> None:
    from escalation.policy import Action, PolicySettings, decide

    decision = decide(_signals("please delete my account", "confirm"), PolicySettings())
    assert decision.action is Action.CONFIRM


@pytest.mark.parametrize("outcome", ["confident", "ambiguous"])
@pytest.mark.parametrize("text", ["that didn't help", "还是不行", "it still doesn't work"])
def test_a_rejected_answer_is_never_answered_again(outcome: str, text: str) -> None:
    from escalation.policy import Action, PolicySettings, decide

    decision = decide(_signals(text, outcome), PolicySettings())
    assert decision.action in (Action.OFFER_HUMAN, Action.ESCALATE)
    twice = decide(_signals(text, outcome, rejections_before=1), PolicySettings())
    assert twice.action is Action.ESCALATE


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("can a real person help me cancel?", "asked for a person"),
        ("fix it today or I'm cancelling and moving to Dropbox", "threatened to cancel"),
        ("If this isn't refunded I'll be talking to my lawyer", "legal action"),
        ("再不退款我就去12315投诉你们", "legal action"),
        ("再这样我就换别家了", "threatened to cancel"),
        ("能不能找个真人帮我看看账单", "asked for a person"),
        ("someone logged into my account from another country", "someone else"),
        ("This is ridiculous!!! Third time I write, NOBODY answers my emails", "angry"),
    ],
)
def test_what_a_person_would_take_over_at_once(text: str, reason: str) -> None:
    from escalation.policy import Action, PolicySettings, decide

    decision = decide(_signals(text), PolicySettings())
    assert decision.action is Action.ESCALATE and reason in (decision.reason or "")


@pytest.mark.parametrize(
    "text",
    [
        "how do I cancel my subscription?",
        "怎么取消订阅",
        "可以退款吗",
        "I leave for Boston on Friday",
    ],
)
def test_calm_questions_about_cancelling_or_refunds_stay_with_the_bot(text: str) -> None:
    from escalation.policy import Action, PolicySettings, decide

    assert decide(_signals(text), PolicySettings()).action is Action.ANSWER


def test_threat_rules_can_be_switched_off() -> None:
    from escalation.policy import Action, PolicySettings, decide

    settings = PolicySettings(escalate_on_threats=False)
    decision = decide(_signals("we're switching to another provider"), settings)
    assert decision.action is not Action.ESCALATE or "threatened" not in (decision.reason or "")


@pytest.mark.parametrize(
    ("text", "rejected"),
    [
        ("it still doesn't work", True),
        ("I already tried that", True),
        ("that's not what I asked", True),
        ("还是不行", True),
        ("还是没解决", True),
        ("试过了，没用", True),
        ("答非所问", True),
        ("my sync doesn't work", False),  # a problem, not a verdict on an answer
        ("the app does not work on my phone", False),
        ("谢谢，解决了", False),
        ("怎么重置密码", False),
    ],
)
def test_rejections_in_both_languages(text: str, rejected: bool) -> None:
    assert rejects_answer(text) is rejected
