"""deskbot's Rasa backend: trains Rasa from the knowledge base, serves it, keeps it current."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot.nlu.local import TrainingExample, training_fingerprint
from bot.nlu.rasa_client import RasaClient
from bot.nlu.rasa_env import RasaEnvironment, RasaServer, RasaSetupError
from knowledge.rasa_project import write_rasa_project
from knowledge.schema import IntentData

log = logging.getLogger(__name__)

IntentSource = Callable[[], Awaitable[Sequence[IntentData]]]
STARTUP_TIMEOUT_S = 180.0
SUPERVISE_S = 2.0


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

    async def start(self) -> None:
        """Train if needed, start our own server (unless RASA_URL names one), load the model."""
        model = await self._model_for_kb()
        if self.server is not None:
            await self.server.start(model)
            await self._wait_until_up()
        else:
            await self.client.load_model(model)

    async def supervise(self, interval_s: float = SUPERVISE_S) -> None:
        """Restart our Rasa server when it dies; parses go to the local engine meanwhile."""
        while True:
            await asyncio.sleep(interval_s)
            if self.server is None or self.server.running or self.version is None:
                continue
            log.warning("rasa server exited; restarting it")
            try:
                await self.server.start(self._models / f"{self.version}.tar.gz")
                await self._wait_until_up()
            except (RasaSetupError, OSError):
                log.exception("rasa restart failed; will try again")

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    async def sync(self) -> bool:
        """After an FAQ edit: train the new model and swap it in with PUT /model."""
        async with self._lock:
            previous = self.version
            model = await self._model_for_kb()
            if self.version == previous:
                return False
            await self.client.load_model(model)
            log.info("rasa model live", extra={"version": self.version})
            return True

    async def _model_for_kb(self) -> Path:
        intents = [i for i in await self._intents() if i.enabled]
        examples = [
            TrainingExample(t, i.name) for i in intents for ts in i.examples.values() for t in ts
        ]
        version = f"{training_fingerprint(examples)}-e{self._epochs}"
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
