"""Requests per key in fixed windows (per visitor, per client address): in memory for one
process, in Redis when several processes share the load."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from redis.exceptions import RedisError

from bot.redis_client import connect

log = logging.getLogger(__name__)


class RateLimited(Exception):
    status = 429

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many requests; try again in {int(retry_after) + 1} s")
        self.retry_after = retry_after


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_s: int) -> float:
        """Count one request; 0 when allowed, else seconds until the window resets."""
        ...

    async def hit_all(self, limits: Sequence[tuple[str, int]], window_s: int) -> float:
        """Count one request against each (key, limit) at once; the longest wait, or 0."""
        ...

    async def peek(self, key: str, limit: int, window_s: int) -> float:
        """Like hit, without counting: would the next request be refused, and for how long."""
        ...

    async def reset(self, key: str, window_s: int) -> None: ...


async def check(
    limiter: RateLimiter, limits: Sequence[tuple[str, int]], window_s: int = 60
) -> None:
    """Count the request against every (key, limit); refuse it if any is exceeded."""
    wait = await limiter.hit_all(limits, window_s)
    if wait > 0:
        raise RateLimited(wait)


async def refuse_repeat_failures(limiter: RateLimiter, key: str, limit: int) -> None:
    """An address that failed authentication `limit` times this minute is refused before
    any work, valid credentials or not, until the window ends."""
    wait = await limiter.peek(key, limit, 60)
    if wait > 0:
        raise RateLimited(wait)


async def count_failure(limiter: RateLimiter, key: str, limit: int) -> None:
    await limiter.hit(key, limit, 60)


class MemoryRateLimiter:
    MAX_KEYS = 100_000

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int], int] = {}

    async def hit(self, key: str, limit: int, window_s: int) -> float:
        now = self._clock()
        window = int(now // window_s)
        if len(self._counts) > self.MAX_KEYS:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
        count = self._counts.get((key, window), 0) + 1
        self._counts[(key, window)] = count
        return 0.0 if count <= limit else (window + 1) * window_s - now

    async def hit_all(self, limits: Sequence[tuple[str, int]], window_s: int) -> float:
        return max([await self.hit(key, limit, window_s) for key, limit in limits], default=0.0)

    async def peek(self, key: str, limit: int, window_s: int) -> float:
        now = self._clock()
        window = int(now // window_s)
        count = self._counts.get((key, window), 0)
        return 0.0 if count < limit else (window + 1) * window_s - now

    async def reset(self, key: str, window_s: int) -> None:
        self._counts.pop((key, int(self._clock() // window_s)), None)


class RedisRateLimiter:
    def __init__(self, url: str, prefix: str, clock: Callable[[], float] = time.time) -> None:
        self._redis = connect(url)
        self._prefix = prefix
        self._clock = clock

    async def hit(self, key: str, limit: int, window_s: int) -> float:
        return await self.hit_all([(key, limit)], window_s)

    async def hit_all(self, limits: Sequence[tuple[str, int]], window_s: int) -> float:
        """One round trip for all the counters."""
        now = self._clock()
        window = int(now // window_s)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, _ in limits:
                    name = f"{self._prefix}:rate:{key}:{window}"
                    pipe.incr(name).expire(name, window_s * 2)
                replies = await pipe.execute()
        except RedisError as exc:  # fail open: a Redis outage must not lock customers out
            log.warning("rate limit check skipped; redis unavailable", extra={"error": str(exc)})
            return 0.0
        counts = replies[::2]
        over = any(int(count) > limit for count, (_, limit) in zip(counts, limits, strict=True))
        return (window + 1) * window_s - now if over else 0.0

    async def peek(self, key: str, limit: int, window_s: int) -> float:
        now = self._clock()
        window = int(now // window_s)
        try:
            count = int(await self._redis.get(f"{self._prefix}:rate:{key}:{window}") or 0)
        except RedisError:
            return 0.0
        return 0.0 if count < limit else (window + 1) * window_s - now

    async def reset(self, key: str, window_s: int) -> None:
        window = int(self._clock() // window_s)
        try:
            await self._redis.delete(f"{self._prefix}:rate:{key}:{window}")
        except RedisError as exc:
            log.warning("rate limit reset skipped", extra={"error": str(exc)})

    async def close(self) -> None:
        await self._redis.aclose()
