"""Sentiment: the shipped models, training and evaluating the company's own model (English and
Chinese), a trained model going live in a running server, and learning from agents' one-click
corrections and CSAT."""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import keys
from bot.services import Services, sentiment_dir
from channels.base import InboundMessage
from escalation.evaluate import evaluate_sentiment, split_by_hash
from escalation.sentiment import RELOAD_CHECK_S, Label, SentimentAnalyzer
from escalation.sentiment_build import support_corpus
from escalation.sentiment_feedback import csat_label, labelled_messages
from escalation.sentiment_model import SentimentTrainingError, train_sentiment
from models import Message
from tests.conftest import admin_headers
from tests.test_cli import run
from tests.test_webchat import new_visitor, send


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("可以退款吗", Label.NEUTRAL),  # a question, not anger (the old lexicon said −0.45)
        ("怎么重置密码", Label.NEUTRAL),
        ("订单两周了还没到", Label.NEGATIVE),
        ("太好了又崩了，真是服了", Label.NEGATIVE),  # sarcasm
        ("谢谢，问题解决了", Label.POSITIVE),
        ("This is ridiculous!!! Third time I write, NOBODY answers my emails", Label.NEGATIVE),
        ("great, it crashed again, love it", Label.NEGATIVE),  # sarcasm
        ("I was charged twice this month", Label.NEGATIVE),
        ("how do I change my email address", Label.NEUTRAL),
        ("@AcmeCloud thanks, that fixed it!", Label.POSITIVE),
    ],
)
def test_shipped_models_read_support_text(text: str, label: Label) -> None:
    sentiment = SentimentAnalyzer().score(text)
    assert sentiment.label is label and sentiment.model == "shipped"


def test_macro_f1_counts_only_the_labels_in_the_data() -> None:
    texts = ["a", "b", "c", "d"]
    expected = ["negative", "negative", "positive", "positive"]
    result = evaluate_sentiment(
        texts, expected, predicted=["negative", "neutral", "positive", "positive"]
    )
    assert set(result.per_label) == {"negative", "positive"}  # binary data: no neutral column
    assert result.macro_f1 == pytest.approx((2 / 3 + 1) / 2, abs=1e-3)  # the neutral is a miss


def test_the_split_is_fixed_and_disjoint() -> None:
    texts = [f"message {i}" for i in range(500)]
    (train, _), (test, _) = split_by_hash(texts, ["neutral"] * 500)
    assert split_by_hash(texts, ["neutral"] * 500)[1][0] == test
    assert not set(train) & set(test) and 60 < len(test) < 140


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


HELD_OUT = [
    ("the courier left my parcel in the rain and it is soaked", "negative"),
    ("I have been charged for a plan I never ordered", "negative"),
    ("still no refund after four weeks", "negative"),
    ("how can I update my delivery address", "neutral"),
    ("what are your opening hours on Sunday", "neutral"),
    ("thank you, the new card works perfectly", "positive"),
    ("lovely service, the agent sorted it in minutes", "positive"),
    ("快递被雨淋湿了，东西都坏了", "negative"),
    ("我没订过这个套餐却被扣钱了", "negative"),
    ("周日几点开门", "neutral"),
    ("怎么修改收货地址", "neutral"),
    ("谢谢，新卡很好用", "positive"),
    ("客服几分钟就解决了，服务很好", "positive"),
]


def test_train_and_evaluate_from_the_command_line_in_both_languages(tmp_path: Path) -> None:
    rows = [
        (t, label)
        for language in ("en", "zh")
        for t, label in zip(*support_corpus(language), strict=True)
    ]
    _write(tmp_path / "train.csv", rows)
    _write(tmp_path / "test.csv", HELD_OUT)
    split = run(
        ["sentiment", "evaluate", "--train", "train.csv", "--test", "test.csv", "--json"], tmp_path
    )
    assert split.returncode == 0, split.stderr
    assert json.loads(split.stdout)["macro_f1"] >= 0.6

    trained = run(["sentiment", "train", "--data", "train.csv"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "en:" in trained.stdout and "zh:" in trained.stdout
    assert (tmp_path / "var" / "sentiment" / "model.joblib").is_file()
    in_use = run(["sentiment", "evaluate", "--data", "test.csv", "--json"], tmp_path)
    assert in_use.returncode == 0, in_use.stderr
    assert json.loads(in_use.stdout)["macro_f1"] == json.loads(split.stdout)["macro_f1"]

    _write(tmp_path / "bad.csv", [("hello", "angry")])
    bad = run(["sentiment", "train", "--data", "bad.csv"], tmp_path)
    assert bad.returncode == 1 and "labels must be" in bad.stderr
    neither = run(["sentiment", "train"], tmp_path)
    assert neither.returncode == 2 and "--from-conversations" in neither.stderr


def test_training_needs_two_labels_and_enough_rows() -> None:
    with pytest.raises(SentimentTrainingError):
        train_sentiment(["fine"] * 30, ["neutral"] * 30)
    with pytest.raises(SentimentTrainingError):
        train_sentiment(["bad", "good"], ["negative", "positive"])


def _colour_model() -> object:
    """A model no shipped model agrees with: 'purple' is bad news, 'teal' good news."""
    texts = [f"purple {thing}" for thing in "abcdefghijkl"] + [
        f"teal {thing}" for thing in "abcdefghijkl"
    ]
    labels = ["negative"] * 12 + ["positive"] * 12
    return train_sentiment(texts, labels)


async def test_a_trained_model_goes_live_in_a_running_server(services: Services) -> None:
    async def stored_sentiment(text: str) -> float:
        user = uuid.uuid4().hex
        result = await services.engine.receive(
            InboundMessage("test", user, user, uuid.uuid4().hex, text)
        )
        async with services.sessions() as session:
            message = await session.get_one(Message, result.message_id)
        assert message.sentiment is not None
        return message.sentiment

    assert abs(await stored_sentiment("purple kiwi")) < 0.5  # the shipped model: no opinion
    _colour_model().save(sentiment_dir(services.settings))  # what `sentiment train` does
    await asyncio.sleep(RELOAD_CHECK_S + 0.1)
    assert await stored_sentiment("purple kiwi") < -0.5
    assert await stored_sentiment("teal kiwi") > 0.5
    # Chinese had no training rows: the shipped Chinese model still scores it.
    user = uuid.uuid4().hex
    result = await services.engine.receive(InboundMessage("test", user, user, "zh1", "可以退款吗"))
    async with services.sessions() as session:
        message = await session.get_one(Message, result.message_id)
    assert message.meta["decision"]["action"] != "escalate"


def test_csat_labels_skip_messages_the_model_read_the_other_way() -> None:
    assert csat_label(1, -0.8) == "negative"
    assert csat_label(2, 0.9) is None  # "thanks!" in a badly rated chat
    assert csat_label(5, 0.7) == "positive"
    assert csat_label(4, -0.9) is None
    assert csat_label(3, -0.9) is None and csat_label(None, -0.9) is None


COMPLAINTS = [
    "my parcel is late again",
    "I was charged twice",
    "the sync keeps failing",
    "nobody answered my email",
    "the app crashed twice today",
    "my refund has not arrived",
]
PRAISE = [
    "thanks, that worked",
    "great, all sorted now",
    "perfect, thank you so much",
    "the new version is really fast",
    "lovely, much appreciated",
    "that was very helpful",
]


async def test_corrections_and_csat_become_training_data(client: TestClient) -> None:
    headers = admin_headers(client)
    conversations = {}
    for rating, texts in (("1", COMPLAINTS), ("5", PRAISE)):
        visitor = await new_visitor(client)
        for text in texts:
            _, body = await send(client, visitor, text)
        conversation_id = body["conversation_id"]
        resolved = await client.post(
            f"/api/conversations/{conversation_id}/resolve", json={}, headers=headers
        )
        assert resolved.status == 200, await resolved.text()
        await send(client, visitor, rating)
        conversations[rating] = conversation_id

    async with client.app[keys.SESSIONS]() as session:
        customer_ids = (
            await session.scalars(
                select(Message.id)
                .where(
                    Message.conversation_id == conversations["1"],
                    Message.sender_kind == "customer",
                )
                .order_by(Message.id)
            )
        ).all()
        bot_id = await session.scalar(
            select(Message.id).where(Message.sender_kind == "bot").limit(1)
        )
    first = customer_ids[0]
    corrected = await client.put(
        f"/api/messages/{first}/sentiment", json={"label": "neutral"}, headers=headers
    )
    assert corrected.status == 200
    assert (await corrected.json())["sentiment_label"] == "neutral"
    wrong = await client.put(
        f"/api/messages/{first}/sentiment", json={"label": "furious"}, headers=headers
    )
    assert wrong.status == 422
    not_customer = await client.put(
        f"/api/messages/{bot_id}/sentiment", json={"label": "neutral"}, headers=headers
    )
    assert not_customer.status == 404
    anonymous = await client.put(f"/api/messages/{first}/sentiment", json={"label": "neutral"})
    assert anonymous.status in (401, 403)

    labelled = await labelled_messages(client.app[keys.SESSIONS])
    by_text = {m.text: (m.label, m.source) for m in labelled}
    assert by_text[COMPLAINTS[0]] == ("neutral", "correction")
    assert by_text[COMPLAINTS[1]] == ("negative", "csat")
    assert by_text[PRAISE[0]] == ("positive", "csat")
    assert "1" not in by_text and "5" not in by_text  # the ratings themselves are not messages

    settings = client.app[keys.SETTINGS]
    trained = run(
        [
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            settings.database_url,
            "sentiment",
            "train",
            "--from-conversations",
        ],
        settings.data_dir,
    )
    assert trained.returncode == 0, trained.stderr
    assert (settings.data_dir / "sentiment" / "model.joblib").is_file()
