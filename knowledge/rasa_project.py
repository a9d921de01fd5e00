"""A complete Rasa 3.6 NLU project from the knowledge base: config.yml, domain.yml, data/nlu.yml."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from bot.nlu.local import offtopic_examples
from bot.nlu.result import OUT_OF_SCOPE_INTENT
from bot.nlu.text import detect_language
from knowledge.formats import write_rasa
from knowledge.schema import IntentData

DEFAULT_EPOCHS = 100


def rasa_config(epochs: int, fallback_threshold: float, ambiguity_threshold: float) -> str:
    """An FAQ pipeline: word and char_wb counts (char n-grams cover Chinese), DIET, fallback."""
    config = {
        "recipe": "default.v1",
        "assistant_id": "deskbot",
        "language": "en",
        "pipeline": [
            {"name": "WhitespaceTokenizer"},
            {"name": "CountVectorsFeaturizer"},
            {
                "name": "CountVectorsFeaturizer",
                "analyzer": "char_wb",
                "min_ngram": 1,
                "max_ngram": 4,
            },
            {
                "name": "DIETClassifier",
                "epochs": epochs,
                "entity_recognition": False,
                "constrain_similarities": True,
                "random_seed": 7,
            },
            {
                "name": "FallbackClassifier",
                "threshold": fallback_threshold,
                "ambiguity_threshold": ambiguity_threshold,
            },
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def with_offtopic(intents: list[IntentData]) -> list[IntentData]:
    extra: dict[str, list[str]] = {}
    for example in offtopic_examples():
        extra.setdefault(detect_language(example.text), []).append(example.text)
    merged = [i for i in intents if i.name != OUT_OF_SCOPE_INTENT]
    own = next((i for i in intents if i.name == OUT_OF_SCOPE_INTENT), None)
    examples = {lang: list(texts) for lang, texts in (own.examples if own else {}).items()}
    for language, texts in extra.items():
        examples[language] = list(dict.fromkeys([*examples.get(language, []), *texts]))
    base = own or IntentData(name=OUT_OF_SCOPE_INTENT)
    return [*merged, base.model_copy(update={"examples": examples})]


def write_rasa_project(
    intents: Sequence[IntentData],
    directory: Path,
    epochs: int = DEFAULT_EPOCHS,
    fallback_threshold: float = 0.45,
    ambiguity_threshold: float = 0.1,
) -> list[Path]:
    """Enabled intents only: what Rasa should learn is what the bot may answer; plus deskbot's
    off-topic questions in the out-of-scope intent, as the local engine learns them."""
    files = write_rasa(with_offtopic([i for i in intents if i.enabled]))
    files["config.yml"] = rasa_config(epochs, fallback_threshold, ambiguity_threshold)
    written = []
    for relative, content in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        written.append(target)
    return written
