"""Rasa 3.6 over HTTP: POST /model/parse, PUT /model, GET /status, behind a circuit breaker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.nlu.circuit import BreakerState, CircuitBreaker
from bot.nlu.result import FallbackRule, IntentScore, NluResult

log = logging.getLogger(__name__)

ENGINE_NAME = "rasa"
RASA_FALLBACK = "nlu_fallback"


class RasaUnavailable(Exception):
    """Rasa did not answer (down, slow, broken, or the breaker is open)."""


@dataclass(frozen=True, slots=True)
class RasaStatus:
    reachable: bool
    model_file: str | None
    breaker: str


class RasaClient:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        rule: FallbackRule,
        breaker: CircuitBreaker | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._rule = rule
        self.breaker = breaker or CircuitBreaker()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._model = "unknown"

    async def parse(self, text: str) -> NluResult:
        if not self.breaker.allows():
            raise RasaUnavailable("circuit open")
        try:
            body = await self._call("POST", "/model/parse", {"text": text})
        except RasaUnavailable:
            was = self.breaker.state
            self.breaker.failed()
            if self.breaker.state is BreakerState.OPEN and was is not BreakerState.OPEN:
                log.warning("rasa unavailable; local NLU answers until it is back")
            raise
        if self.breaker.state is not BreakerState.CLOSED:
            log.info("rasa is back")
        self.breaker.succeeded()
        return self._result(body)

    async def load_model(self, model_file: Path) -> None:
        """Swap the served model; Rasa keeps answering with the old one until the new is in."""
        await self._call("PUT", "/model", {"model_file": str(model_file)}, timeout_s=300)
        self._model = model_file.name

    async def status(self) -> RasaStatus:
        try:
            body = await self._call("GET", "/status", None)
        except RasaUnavailable:
            return RasaStatus(False, None, self.breaker.state.value)
        return RasaStatus(True, body.get("model_file"), self.breaker.state.value)

    async def _call(
        self, method: str, path: str, payload: dict[str, Any] | None, timeout_s: float | None = None
    ) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s else self._timeout
        try:
            async with self._http.request(
                method, self._base + path, json=payload, timeout=timeout
            ) as response:
                if response.status >= 400:
                    raise RasaUnavailable(f"{method} {path}: HTTP {response.status}")
                if response.status == 204:
                    return {}
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RasaUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if not isinstance(data, dict):
            raise RasaUnavailable(f"{method} {path}: unexpected answer")
        return data

    def _result(self, body: dict[str, Any]) -> NluResult:
        """Rasa's own FallbackClassifier may have replaced the top intent; re-rank from scores."""
        ranking = tuple(
            IntentScore(str(item["name"]), round(float(item["confidence"]), 4))
            for item in body.get("intent_ranking") or []
            if item.get("name") and item["name"] != RASA_FALLBACK
        )
        return self._rule.apply(ranking, ENGINE_NAME, self._model, text=str(body.get("text") or ""))
