"""The NLU the server uses: the live model, parsing, and retraining with a hot swap."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.nlu.local import (
    ENGINE_NAME,
    LocalNluModel,
    Reading,
    TrainingExample,
    training_fingerprint,
)
from bot.nlu.rasa_backend import RasaBackend
from bot.nlu.rasa_client import RasaUnavailable
from bot.nlu.result import FallbackRule, NluResult
from bot.nlu.store import ModelStore

log = logging.getLogger(__name__)

ExampleSource = Callable[[], Awaitable[list[TrainingExample]]]


class NluNotReady(RuntimeError):
    """No model has been trained or loaded yet."""


class NluService:
    """Owns the live model. Parsing reads one reference; retraining replaces it whole."""

    def __init__(self, store: ModelStore, rule: FallbackRule, examples: ExampleSource) -> None:
        self._store = store
        self._rule = rule
        self._examples = examples
        self._model: LocalNluModel | None = None
        self._lock = asyncio.Lock()
        self.last_train_seconds: float | None = None
        self.rasa: RasaBackend | None = None
        self.local_fallbacks = 0
        """Messages the local engine answered because Rasa was unavailable."""
        self._waiting: list[tuple[str, asyncio.Future[NluResult]]] = []

    @property
    def version(self) -> str | None:
        return self._model.version if self._model else None

    async def knows(self, intent: str) -> bool:
        """The live local model has learnt this intent (retraining runs in the background)."""
        model = self._model
        return model is not None and intent in model.intents

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def training(self) -> bool:
        return self._lock.locked()

    def parse(self, text: str) -> NluResult:
        model = self._model
        if model is None:
            raise NluNotReady("the NLU model is not trained yet")
        return self._judge(model, text, model.read_many([text])[0])

    def _judge(self, model: LocalNluModel, text: str, reading: Reading) -> NluResult:
        return self._rule.apply(
            reading.ranking,
            ENGINE_NAME,
            model.version,
            text=text,
            unknown=reading.unknown,
            unknown_threshold=reading.unknown_threshold,
            closest=reading.closest,
            closest_offtopic=reading.closest_offtopic,
        )

    async def parse_async(self, text: str) -> NluResult:
        """Rasa when it is the engine and reachable; otherwise the local model."""
        if self.rasa is not None:
            if self.rasa.ready:  # not while it starts or restarts: local answers meanwhile
                try:
                    return self._with_closeness(await self.rasa.client.parse(text), text)
                except RasaUnavailable as exc:
                    log.debug("rasa unavailable, local parse", extra={"error": str(exc)})
            self.local_fallbacks += 1
        return await self._batched_parse(text)

    def _with_closeness(self, rasa: NluResult, text: str) -> NluResult:
        """Rasa's ranking through the same rule, with how close the message is to the
        training examples as the local model measures it: a word or two that is near no
        example ("account") is asked back about whichever engine ranked it."""
        model = self._model
        if model is None:
            return rasa
        reading = model.read_many([text])[0]
        return self._rule.apply(
            rasa.ranking,
            rasa.engine,
            rasa.model_version,
            text=text,
            closest=reading.closest,
            closest_offtopic=reading.closest_offtopic,
        )

    async def _batched_parse(self, text: str) -> NluResult:
        """Parses asked for in the same turn of the event loop run as one batch, in the loop.

        A model call costs about a millisecond, most of it per call rather than per sentence,
        so under load one call for many messages is far cheaper; a thread would only add
        GIL hand-offs with the event loop."""
        model = self._model
        if model is None:
            raise NluNotReady("the NLU model is not trained yet")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[NluResult] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._parse_waiting)
        self._waiting.append((text, answer))
        return await answer

    def _parse_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        model = self._model
        assert model is not None  # a model never goes away once loaded
        try:
            readings = model.read_many([text for text, _ in waiting])
        except Exception as exc:  # the callers see it, as they would from a direct parse
            for _, answer in waiting:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for (text, answer), reading in zip(waiting, readings, strict=True):
            if not answer.done():
                answer.set_result(self._judge(model, text, reading))

    async def sync(self) -> bool:
        """Make the live model match the knowledge base; True when a new model went live."""
        async with self._lock:
            examples = await self._examples()
            version = training_fingerprint(examples)
            if self._model is not None and self._model.version == version:
                return False
            model = self._store.load(version)
            if model is None:
                model = await asyncio.to_thread(self._train_and_save, examples)
            self._model = model
            log.info("nlu model live", extra={"version": version, "examples": len(examples)})
            return True

    def _train_and_save(self, examples: list[TrainingExample]) -> LocalNluModel:
        started = time.perf_counter()
        model = LocalNluModel.train(examples)
        self.last_train_seconds = time.perf_counter() - started
        self._store.save(model)
        return model
