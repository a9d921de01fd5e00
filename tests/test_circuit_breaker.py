"""The NLU circuit breaker under real concurrency: while Rasa is still down, the half-open
state lets exactly one trial call through; everyone else falls back at once."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.nlu.circuit import BreakerState, CircuitBreaker
from bot.nlu.rasa_client import RasaClient, RasaUnavailable
from bot.nlu.result import FallbackRule
from tests.mail_servers import free_port

TIMEOUT_S = 1.0
CONCURRENT = 10


class StalledServer:
    """Accepts connections and reads requests, never answers: Rasa hung, as a socket sees it."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.read()  # until the client gives up and closes
        finally:
            writer.close()

    async def __aenter__(self) -> StalledServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client_for(http: aiohttp.ClientSession, port: int) -> RasaClient:
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=0.3)
    return RasaClient(
        http, f"http://127.0.0.1:{port}", FallbackRule(0.5, 0.1), breaker, timeout_s=TIMEOUT_S
    )


async def timed_parse(client: RasaClient) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        await client.parse("how much does it cost")
    except RasaUnavailable as exc:
        return time.perf_counter() - started, str(exc)
    return time.perf_counter() - started, "answered"


async def test_half_open_lets_one_trial_reach_a_stalled_server(
    http: aiohttp.ClientSession,
) -> None:
    async with StalledServer() as stalled:
        rasa = client_for(http, stalled.port)
        await timed_parse(rasa)  # times out: the breaker opens
        assert rasa.breaker.state is BreakerState.OPEN
        await asyncio.sleep(0.35)
        assert rasa.breaker.state is BreakerState.HALF_OPEN
        connections_before = stalled.connections
        results = await asyncio.gather(*(timed_parse(rasa) for _ in range(CONCURRENT)))
        waited = [t for t, why in results if why != "circuit open"]
        refused = [t for t, why in results if why == "circuit open"]
        assert len(waited) == 1 and waited[0] >= TIMEOUT_S * 0.9  # the one trial
        assert len(refused) == CONCURRENT - 1 and max(refused) < 0.1  # local NLU at once
        assert stalled.connections - connections_before == 1
        assert rasa.breaker.state is BreakerState.OPEN  # the trial failed: open again


async def test_half_open_lets_one_trial_reach_a_closed_port(http: aiohttp.ClientSession) -> None:
    port = free_port()
    with socket.socket() as probe:  # nothing listens there
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    rasa = client_for(http, port)
    await timed_parse(rasa)
    await asyncio.sleep(0.35)
    results = await asyncio.gather(*(timed_parse(rasa) for _ in range(CONCURRENT)))
    reasons = [why for _, why in results]
    assert reasons.count("circuit open") == CONCURRENT - 1
    assert sum("ClientConnectorError" in why for why in reasons) == 1


def test_a_trial_that_never_reports_back_gives_way_to_a_new_one() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=lambda: now[0])
    breaker.failed()
    now[0] = 10.0
    assert breaker.allows() and not breaker.allows()  # one trial, then no
    now[0] = 15.0
    assert not breaker.allows()  # the trial is still out
    now[0] = 20.0
    assert breaker.allows()  # its caller was cancelled: a new trial
    breaker.succeeded()
    assert breaker.allows() and breaker.allows()  # closed: everyone
