"""deskbot's Rasa backend: trains Rasa from the knowledge base, serves it, keeps it current."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot.nlu.local import TrainingExample, training_fingerprint
from bot.nlu.rasa_client import RasaClient, RasaUnavailable
from bot.nlu.rasa_env import RasaEnvironment, RasaServer, RasaSetupError
from knowledge.rasa_project import write_rasa_project
from knowledge.schema import IntentData

log = logging.getLogger(__name__)

IntentSource = Callable[[], Awaitable[Sequence[IntentData]]]
STARTUP_TIMEOUT_S = 180.0
SUPERVISE_S = 2.0
START_RETRY_MAX_S = 30.0


def model_version(intents: Sequence[IntentData], epochs: int) -> str:
    """The name of the Rasa model trained from these (enabled) intents."""
    examples = [
        TrainingExample(t, i.name) for i in intents for ts in i.examples.values() for t in ts
    ]
    return f"{training_fingerprint(examples)}-e{epochs}"


class RasaBackend:
    def __init__(
        self,
        env: RasaEnvironment,
        client: RasaClient,
        models_dir: Path,
        intents: IntentSource,
        epochs: int,
        thresholds: tuple[float, float],
        server: RasaServer | None = None,
    ) -> None:
        self.env = env
        self.client = client
        self.server = server
        self._models = models_dir.resolve()
        self._intents = intents
        self._epochs = epochs
        self._thresholds = thresholds
        self._lock = asyncio.Lock()
        self.version: str | None = None
        self.last_train_seconds: float | None = None
        self.started = False
        """Rasa has been trained, started and has loaded a model at least once."""
        self.reachable = False
        """What the last probe (every SUPERVISE_S, without traffic) found."""

    @property
    def ready(self) -> bool:
        """Parses may go to Rasa (the client's breaker still covers a failing call)."""
        running = self.server is None or self.server.running  # ours died: no need to ask
        return self.started and self.reachable and running

    @property
    def answering(self) -> str:
        return "rasa" if self.ready and not self.client.breaker.failing else "local"

    def health(self) -> dict[str, object]:
        return {
            "started": self.started,
            "reachable": self.reachable,
            "model": self.version,
            "breaker": self.client.breaker.state.value,
            "answering": self.answering,
        }

    async def start(self) -> None:
        """Train if needed, start our own server (unless RASA_URL names one), load the model."""
        async with self._lock:
            model = await self._model_for_kb()
            if self.server is not None:
                await self.server.start(model)
                await self._wait_until_up()
            else:
                await self.client.load_model(model)
            self.started = self.reachable = True
        self.client.breaker.succeeded()
        log.info("rasa answering", extra={"version": self.version})

    async def start_in_background(self) -> None:
        """The service listens and answers with the local engine while Rasa trains and
        starts (minutes at the default epochs); parses switch to Rasa once it is up."""
        pause = 1.0
        while not self.started:
            try:
                await self.start()
            except (RasaSetupError, RasaUnavailable, OSError) as exc:
                log.warning(
                    "rasa did not start; the local engine answers; trying again",
                    extra={"error": str(exc)[-2000:], "in_s": pause},
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, START_RETRY_MAX_S)

    async def supervise(self, interval_s: float = SUPERVISE_S) -> None:
        """Probe Rasa so /healthz is true without traffic and parses go back to Rasa as soon
        as it answers again; restart our Rasa server when it dies (local answers meanwhile)."""
        while True:
            await asyncio.sleep(interval_s)
            if not self.started:
                continue
            await self.probe()
            if self.server is None or self.server.running or self.version is None:
                continue
            log.warning("rasa server exited; restarting it")
            try:
                await self.server.start(self._models / f"{self.version}.tar.gz")
                await self._wait_until_up()
            except (RasaSetupError, OSError):
                log.exception("rasa restart failed; will try again")

    async def probe(self) -> None:
        status = await self.client.status()
        self.reachable = status.reachable and status.model_file is not None
        if self.reachable:
            self.client.breaker.succeeded()
        else:
            self.client.breaker.failed()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    async def sync(self) -> bool:
        """After an FAQ edit: train the new model and swap it in with PUT /model."""
        async with self._lock:
            if not self.started:
                return False  # its start, when it succeeds, trains from the KB as it is then
            previous = self.version
            model = await self._model_for_kb()
            if self.version == previous:
                return False
            await self.client.load_model(model)
            log.info("rasa model live", extra={"version": self.version})
            return True

    async def _model_for_kb(self) -> Path:
        intents = [i for i in await self._intents() if i.enabled]
        version = model_version(intents, self._epochs)
        model = self._models / f"{version}.tar.gz"
        if not model.is_file():
            model = await self._train(intents, version)
        self.version = version
        return model

    async def _train(self, intents: Sequence[IntentData], version: str) -> Path:
        started = time.perf_counter()
        self._models.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="deskbot-rasa-") as tmp:
            project = Path(tmp)
            fallback, ambiguity = self._thresholds
            write_rasa_project(intents, project, self._epochs, fallback, ambiguity)
            model = await self.env.train(project, self._models.resolve(), version)
        self.last_train_seconds = time.perf_counter() - started
        log.info("rasa trained", extra={"version": version, "seconds": self.last_train_seconds})
        return model

    async def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.server is not None and not self.server.running:
                raise RasaSetupError("the rasa server exited during start; see its log")
            status = await self.client.status()
            if status.reachable and status.model_file:
                return
            await asyncio.sleep(0.5)
        raise RasaSetupError(f"rasa did not come up within {STARTUP_TIMEOUT_S:.0f}s")
