"""The local engine: its fast scoring path equals sklearn's, and its judgement on the demo
knowledge base (questions not among the examples) in English and Chinese."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.engine import questions
from bot.nlu.features import SentenceFeatures
from bot.nlu.local import LocalNluModel, TrainingExample
from bot.nlu.result import OUT_OF_SCOPE_INTENT, FallbackRule, Outcome
from bot.nlu.text import normalise
from knowledge.demo import demo_intents


@pytest.fixture(scope="module")
def demo_model() -> LocalNluModel:
    return LocalNluModel.train(
        [
            TrainingExample(text, intent.name)
            for intent in demo_intents()
            for texts in intent.examples.values()
            for text in texts
        ]
    )


def judge(model: LocalNluModel, text: str) -> tuple[str, Outcome]:
    reading = model.read_many([text])[0]
    result = FallbackRule(0.45, 0.1).apply(
        reading.ranking,
        "local",
        model.version,
        text=text,
        unknown=reading.unknown,
        unknown_threshold=reading.unknown_threshold,
        closest=reading.closest,
        closest_offtopic=reading.closest_offtopic,
    )
    return result.intent, result.outcome


def test_direct_scoring_equals_sklearns(demo_model: LocalNluModel) -> None:
    texts = [normalise(t) for t in [*questions(200), "qwzx", "我的文件不同步", "", "a" * 4000]]
    direct, _ = demo_model._decision(texts)
    matrix, _ = demo_model._features.transform(texts)
    np.testing.assert_allclose(
        direct, demo_model._classifier.decision_function(matrix), rtol=0, atol=1e-9
    )


def test_fast_tfidf_equals_the_vectorizers_own_transform() -> None:
    texts = [normalise(t) for t in questions(100)]
    features = SentenceFeatures().fit(texts[:60])
    word, char, _ = features.blocks(texts)
    np.testing.assert_allclose(
        word.toarray(), features._word.transform(texts).toarray(), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        char.toarray(), features._char.transform(texts).toarray(), rtol=0, atol=1e-12
    )


def test_two_intents_train_and_rank() -> None:
    model = LocalNluModel.train(
        [TrainingExample(t, "yes") for t in ("yes", "sure", "ok yes", "yep")]
        + [TrainingExample(t, "no") for t in ("no", "nope", "no way", "not at all")],
        offtopic=False,
    )
    assert model.calibration.detector is None  # too few intents to learn "none of these"
    assert next(s.name for s in model.rank("sure")) == "yes"


def test_settings_are_chosen_by_cross_validation_on_the_training_data(
    demo_model: LocalNluModel,
) -> None:
    calibration = demo_model.calibration
    assert calibration.detector is not None
    assert calibration.cv_in_scope_accuracy is not None and calibration.cv_oos_recall is not None
    assert 0.5 < calibration.cv_in_scope_accuracy <= 1.0
    assert 0.5 < calibration.cv_oos_recall <= 1.0
    assert OUT_OF_SCOPE_INTENT in demo_model.intents


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hey, I keep forgetting my password, how can I set a new one", "reset_password"),
        ("why did you take money from my card twice this month", "refund_request"),
        ("我的文件在电脑上一直没有同步", "sync_not_working"),
    ],
)
def test_paraphrases_nobody_wrote_are_understood(
    demo_model: LocalNluModel, text: str, intent: str
) -> None:
    assert judge(demo_model, text) == (intent, Outcome.CONFIDENT)


@pytest.mark.parametrize(
    "text",
    [
        "is it going to rain in Berlin tomorrow?",
        "who won the champions league final",
        "can you recommend a good thai curry recipe",
        "明天上海会下雨吗",
    ],
)
def test_off_topic_questions_are_out_of_scope(demo_model: LocalNluModel, text: str) -> None:
    intent, outcome = judge(demo_model, text)
    assert outcome in (Outcome.OUT_OF_SCOPE, Outcome.FALLBACK), (text, intent)


@pytest.mark.parametrize("text", ["account", "my plan", "账户"])
def test_one_vague_word_asks_back(demo_model: LocalNluModel, text: str) -> None:
    assert judge(demo_model, text)[1] in (Outcome.AMBIGUOUS, Outcome.FALLBACK)


def test_known_short_messages_are_still_answered(demo_model: LocalNluModel) -> None:
    assert judge(demo_model, "hi")[1] is Outcome.CONFIDENT


def test_demo_knowledge_base_trains_quickly() -> None:
    examples = [
        TrainingExample(text, intent.name)
        for intent in demo_intents()
        for texts in intent.examples.values()
        for text in texts
    ]
    started = time.process_time()
    LocalNluModel.train(examples)
    # CPU time, not wall time: the machine may be shared. The target is 5 s.
    assert time.process_time() - started < 10
