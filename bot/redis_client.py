"""The Redis client every Redis-backed part of one process uses (bus, rate limits).

Redis sits on the request path (rate limits, publishing replies), so a Redis that hangs must
cost a request no more than a dead one: every command has a short timeout, and a circuit
breaker shared by the whole pool stops calling a Redis that keeps failing, so commands fail
at once (a `redis.exceptions.ConnectionError`, which every caller already treats as "Redis
unavailable") until one trial command gets through again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

MAX_CONNECTIONS = 64
WAIT_FOR_CONNECTION_S = 5.0
COMMAND_TIMEOUT_S = 0.5
"""A healthy Redis on the same network answers in a millisecond; half a second is a hang."""
FAILURES_TO_OPEN = 3
OPEN_FOR_S = 1.0


class RedisBreaker:
    """Closed until `threshold` failures in a row; then open for `open_for_s`; then one
    trial at a time until a command succeeds (closed) or fails (open again)."""

    def __init__(
        self,
        threshold: int = FAILURES_TO_OPEN,
        open_for_s: float = OPEN_FOR_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._open_for = open_for_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def refusing(self) -> bool:
        """Open and not yet due for a trial (asks without taking the trial)."""
        return self._opened_at is not None and self._clock() - self._opened_at < self._open_for

    def allows(self) -> bool:
        if self._opened_at is None:
            return True
        now = self._clock()
        if now - self._opened_at < self._open_for:
            return False
        # Half open: let one command try; another may try only if that one never reports.
        if self._trial_at is not None and now - self._trial_at < self._open_for:
            return False
        self._trial_at = now
        return True

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_at = None

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self._threshold or self._opened_at is not None:
            self._opened_at = self._clock()
            self._trial_at = None


class _GuardedConnection(redis.Connection):
    """Reports each command's outcome to the pool's breaker; refuses commands while open."""

    breaker: RedisBreaker

    async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        if self.is_connected:
            return
        try:
            await super().connect_check_health(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self.breaker.failed()
            raise

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.breaker.allows():
            raise RedisConnectionError("redis unavailable (circuit open)")
        try:
            await super().send_packed_command(command, check_health)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self.breaker.failed()
            raise

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = await super().read_response(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self.breaker.failed()
            raise
        self.breaker.succeeded()
        return response


class _GuardedPool(redis.BlockingConnectionPool):
    def __init__(self, breaker: RedisBreaker, **kwargs: Any) -> None:
        super().__init__(connection_class=_GuardedConnection, **kwargs)
        self.breaker = breaker

    def make_connection(self) -> Any:
        connection = super().make_connection()
        connection.breaker = self.breaker
        return connection

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self.breaker.refusing():  # fail before waiting for a connection
            raise RedisConnectionError("redis unavailable (circuit open)")
        return await super().get_connection(*args, **kwargs)


def connect(url: str, breaker: RedisBreaker | None = None) -> redis.Redis:
    """A client with short timeouts behind a circuit breaker. Its pool waits for a free
    connection instead of failing: redis-py's default pool raises "Too many connections" past
    100 concurrent commands, which a few hundred busy conversations reach, and a failed
    publish would keep a reply from other processes. Pub/sub reads block without a timeout
    (redis-py reads a subscription with no deadline), so a quiet channel is not a failure."""
    pool = _GuardedPool.from_url(
        url,
        breaker=breaker or RedisBreaker(),
        max_connections=MAX_CONNECTIONS,
        timeout=WAIT_FOR_CONNECTION_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        socket_connect_timeout=COMMAND_TIMEOUT_S,
    )
    return redis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


def breaker_of(client: redis.Redis) -> RedisBreaker:
    pool = client.connection_pool
    assert isinstance(pool, _GuardedPool)
    return pool.breaker
