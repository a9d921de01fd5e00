"""The local engine's direct scoring path gives exactly what the sklearn pipeline gives."""

from __future__ import annotations

import numpy as np

from bench.engine import questions
from bot.nlu.local import LocalNluModel, TrainingExample
from bot.nlu.text import normalise
from knowledge.demo import demo_intents


def test_direct_scoring_equals_the_pipelines_predict_proba() -> None:
    examples = [
        TrainingExample(text, intent.name)
        for intent in demo_intents()
        for texts in intent.examples.values()
        for text in texts
    ]
    model = LocalNluModel.train(examples)
    texts = [normalise(t) for t in [*questions(200), "qwzx", "我的文件不同步", "", "a" * 4000]]
    direct = model._probabilities(texts)
    assert direct.shape == (len(texts), len(model.intents))
    np.testing.assert_allclose(direct, model._pipeline.predict_proba(texts), rtol=0, atol=1e-12)


def test_two_intents_take_the_pipelines_own_path() -> None:
    model = LocalNluModel.train(
        [TrainingExample(t, "yes") for t in ("yes", "sure", "ok yes", "yep")]
        + [TrainingExample(t, "no") for t in ("no", "nope", "no way", "not at all")]
    )
    assert next(s.name for s in model.rank("sure")) == "yes"
