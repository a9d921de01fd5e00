"""Measure an NLU engine on a labelled CSV (text,intent): the same parse path the server uses."""

from __future__ import annotations

import asyncio
import csv
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from sklearn.metrics import accuracy_score, f1_score

from bot.nlu.local import LocalNluModel, Reading, TrainingExample
from bot.nlu.rasa_client import RasaClient
from bot.nlu.rasa_env import RasaEnvironment, RasaServer
from bot.nlu.result import (
    FALLBACK_INTENT,
    OUT_OF_SCOPE_INTENT,
    FallbackRule,
    IntentScore,
    NluResult,
)
from knowledge.rasa_project import write_rasa_project
from knowledge.schema import IntentData

LATENCY_SAMPLE = 500


class EvaluationDataError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Evaluation:
    examples: int
    intents: int
    accuracy: float
    """Of the final answers: an intent, or no answer (fallback / out of scope)."""
    top_intent_accuracy: float
    """Of the model's first-ranked intent alone, on the in-scope rows (no fallback rule)."""
    macro_f1: float
    in_scope_accuracy: float
    oos_recall: float | None
    oos_precision: float | None
    train_seconds: float
    parse_ms_p50: float
    parse_ms_p99: float

    def to_json(self) -> dict[str, float | int | None]:
        return asdict(self)


def read_labelled_csv(path: Path) -> list[TrainingExample]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"text", "intent"} <= set(reader.fieldnames):
                raise EvaluationDataError(f"{path}: needs the columns text,intent")
            rows = [TrainingExample(r["text"], r["intent"]) for r in reader if r["text"].strip()]
    except UnicodeDecodeError:
        raise EvaluationDataError(f"{path}: not UTF-8") from None
    if not rows:
        raise EvaluationDataError(f"{path}: no rows")
    return rows


def evaluate_local(
    train: list[TrainingExample],
    test: list[TrainingExample],
    rule: FallbackRule,
    oos_label: str | None = None,
) -> Evaluation:
    """Train on `train` (oos rows excluded), parse every `test` row, score the answers."""
    in_scope_train = [e for e in train if e.intent != oos_label]
    started = time.perf_counter()
    model = LocalNluModel.train(in_scope_train)
    train_seconds = time.perf_counter() - started

    texts = [e.text for e in test]
    readings = model.read_many(texts)
    predicted = [_answered(judge(model, rule, t, r)) for t, r in zip(texts, readings, strict=True)]
    top_intents = [_top_in_scope(r.ranking) for r in readings]
    expected = [FALLBACK_INTENT if e.intent == oos_label else e.intent for e in test]
    latencies = _latencies(model, rule, texts)
    return _score(expected, predicted, train_seconds, latencies, top_intents)


def judge(model: LocalNluModel, rule: FallbackRule, text: str, reading: Reading) -> NluResult:
    """The server's path: the model's reading through the answer/clarify/fallback rule."""
    return rule.apply(
        reading.ranking,
        "local",
        model.version,
        text=text,
        unknown=reading.unknown,
        unknown_threshold=reading.unknown_threshold,
        closest=reading.closest,
        closest_offtopic=reading.closest_offtopic,
    )


def _top_in_scope(ranking: tuple[IntentScore, ...]) -> str:
    return next((s.name for s in ranking if s.name != OUT_OF_SCOPE_INTENT), FALLBACK_INTENT)


def _answered(result: NluResult) -> str:
    """Off-topic and not understood both mean "no FAQ answer" for scoring."""
    return result.intent if result.understood else FALLBACK_INTENT


def _latencies(model: LocalNluModel, rule: FallbackRule, texts: list[str]) -> list[float]:
    """One message at a time, as the server parses them; in CPU time of this process, so
    that other work on a shared machine does not count (one BLAS thread: bot.nlu.threads)."""
    timings = []
    for text in texts[:LATENCY_SAMPLE]:
        started = time.process_time()
        judge(model, rule, text, model.read_many([text])[0])
        timings.append((time.process_time() - started) * 1000)
    return timings


def _score(
    expected: list[str],
    predicted: list[str],
    train_seconds: float,
    latencies: list[float],
    top_intents: list[str],
) -> Evaluation:
    in_scope = [(e, p) for e, p in zip(expected, predicted, strict=True) if e != FALLBACK_INTENT]
    oos_total = len(expected) - len(in_scope)
    oos_hits = sum(e == p == FALLBACK_INTENT for e, p in zip(expected, predicted, strict=True))
    oos_said = sum(p == FALLBACK_INTENT for p in predicted)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return Evaluation(
        examples=len(expected),
        intents=len({e for e in expected if e != FALLBACK_INTENT}),
        accuracy=round(float(accuracy_score(expected, predicted)), 4),
        top_intent_accuracy=round(
            sum(e == t for e, t in zip(expected, top_intents, strict=True) if e != FALLBACK_INTENT)
            / max(len(in_scope), 1),
            4,
        ),
        macro_f1=round(float(f1_score(expected, predicted, average="macro", zero_division=0)), 4),
        in_scope_accuracy=round(sum(e == p for e, p in in_scope) / max(len(in_scope), 1), 4),
        oos_recall=round(oos_hits / oos_total, 4) if oos_total else None,
        oos_precision=round(oos_hits / oos_said, 4) if oos_total and oos_said else None,
        train_seconds=round(train_seconds, 3),
        parse_ms_p50=round(quantiles[49], 3),
        parse_ms_p99=round(quantiles[98], 3),
    )


def _intents_from_examples(examples: list[TrainingExample]) -> list[IntentData]:
    by_intent: dict[str, list[str]] = {}
    for example in examples:
        by_intent.setdefault(example.intent, []).append(example.text)
    return [
        IntentData(name=_rasa_safe(name), examples={"en": list(dict.fromkeys(texts))})
        for name, texts in by_intent.items()
    ]


def _rasa_safe(intent: str) -> str:
    """Intent labels become deskbot intent names (lower case, [a-z0-9_])."""
    cleaned = "".join(c if c.isalnum() else "_" for c in intent.lower()).strip("_") or "intent"
    return cleaned if cleaned[0].isalpha() else f"i_{cleaned}"


async def evaluate_rasa(
    train: list[TrainingExample],
    test: list[TrainingExample],
    rule: FallbackRule,
    env: RasaEnvironment,
    work_dir: Path,
    port: int,
    epochs: int,
    oos_label: str | None = None,
    model: Path | None = None,
) -> Evaluation:
    """Train Rasa (or reuse `model`), serve it on loopback, parse every test row over HTTP."""
    in_scope = [e for e in train if e.intent != oos_label]
    train_seconds = 0.0
    if model is None:
        project = work_dir / "project"
        write_rasa_project(_intents_from_examples(in_scope), project, epochs, 0.0, 0.0)
        started = time.perf_counter()
        model = await env.train(project, (work_dir / "models").resolve(), f"eval-e{epochs}")
        train_seconds = time.perf_counter() - started
        _training_record(model).write_text(json.dumps({"train_seconds": train_seconds}))
    elif _training_record(model).is_file():
        train_seconds = json.loads(_training_record(model).read_text())["train_seconds"]
    server = RasaServer(env, port, work_dir / "rasa.log")
    await server.start(model)
    try:
        async with aiohttp.ClientSession() as http:
            client = RasaClient(http, server.url, rule, timeout_s=30)
            await _wait_for(client, server)
            predicted, timings, top_intents = [], [], []
            for example in test:
                started = time.perf_counter()
                result = await client.parse(example.text)
                timings.append((time.perf_counter() - started) * 1000)
                predicted.append(_answered(result))
                top_intents.append(_top_in_scope(result.ranking))
    finally:
        await server.stop()
    expected = [FALLBACK_INTENT if e.intent == oos_label else _rasa_safe(e.intent) for e in test]
    return _score(expected, predicted, train_seconds, timings, top_intents)


def _training_record(model: Path) -> Path:
    """Beside the model, so a reused model still reports what its training cost."""
    return model.with_name(model.name.removesuffix(".tar.gz") + ".training.json")


async def _wait_for(client: RasaClient, server: RasaServer) -> None:
    for _ in range(600):
        if not server.running:
            raise EvaluationDataError("the rasa server exited; see rasa.log in the work directory")
        status = await client.status()
        if status.reachable and status.model_file:
            return
        await asyncio.sleep(0.5)
    raise EvaluationDataError("the rasa server did not come up")
