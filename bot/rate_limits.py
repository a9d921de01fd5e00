"""Requests per key in an exact moving window (per visitor, per client address): in memory for
one process, in Redis when several processes share the load.

A request is allowed when fewer than `limit` allowed requests fell in the last `window_s`
seconds, so no client gets twice a limit across a window's end, as fixed windows allow. A
refused request is not counted: a client that stops for a window is let in again. Each check
counts atomically (no await between check and count in memory, one Lua script in Redis), so
parallel requests cannot all pass a check before any is counted.

Own code rather than the `limits` library: a sign-in must be able to take back exactly the one
attempt it counted (so agents behind one office address are not locked out by each other's
successful sign-ins), which `limits` cannot do, and Redis is reached through the one client of
bot/redis_client.py like every other Redis-backed part.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
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
        """Count one request if allowed: 0 when allowed, else seconds until it would be."""
        ...

    async def hit_all(
        self, limits: Sequence[tuple[str, int]], window_s: int, ticket: str | None = None
    ) -> float:
        """Count one request against every (key, limit), all or none: 0 when every limit allows
        it, else the longest wait. `ticket` names the request, for a later `refund`."""
        ...

    async def peek(self, key: str, limit: int, window_s: int) -> float:
        """Like hit, without counting: would the next request be refused, and for how long."""
        ...

    async def refund(self, key: str, window_s: int, ticket: str) -> None:
        """Take back the one request counted under `ticket`."""
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
    """An address that failed authentication `limit` times in the last minute is refused
    before any work, valid credentials or not."""
    wait = await limiter.peek(key, limit, 60)
    if wait > 0:
        raise RateLimited(wait)


async def count_failure(limiter: RateLimiter, key: str, limit: int) -> None:
    await limiter.hit(key, limit, 60)


def new_ticket() -> str:
    return uuid.uuid4().hex


class MemoryRateLimiter:
    MAX_KEYS = 100_000

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._logs: dict[tuple[str, int], deque[tuple[float, str]]] = {}

    def _log(self, key: str, window_s: int, now: float) -> deque[tuple[float, str]]:
        entries = self._logs.setdefault((key, window_s), deque())
        while entries and entries[0][0] <= now - window_s:
            entries.popleft()
        return entries

    @staticmethod
    def _wait(entries: deque[tuple[float, str]], limit: int, window_s: int, now: float) -> float:
        if len(entries) < limit:
            return 0.0
        # the oldest entry whose leaving makes room for one more
        return max(entries[len(entries) - limit][0] + window_s - now, 1e-3)

    async def hit(self, key: str, limit: int, window_s: int) -> float:
        return await self.hit_all([(key, limit)], window_s)

    async def hit_all(
        self, limits: Sequence[tuple[str, int]], window_s: int, ticket: str | None = None
    ) -> float:
        now = self._clock()
        if len(self._logs) > self.MAX_KEYS:
            self._forget_idle(now)
        logs = [(self._log(key, window_s, now), limit) for key, limit in limits]
        waits = [self._wait(entries, limit, window_s, now) for entries, limit in logs]
        wait = max(waits, default=0.0)
        if wait == 0:
            for entries, _ in logs:
                entries.append((now, ticket or ""))
        return wait

    async def peek(self, key: str, limit: int, window_s: int) -> float:
        now = self._clock()
        return self._wait(self._log(key, window_s, now), limit, window_s, now)

    async def refund(self, key: str, window_s: int, ticket: str) -> None:
        entries = self._logs.get((key, window_s))
        if entries is None:
            return
        for entry in entries:
            if entry[1] == ticket:
                entries.remove(entry)
                return

    async def reset(self, key: str, window_s: int) -> None:
        self._logs.pop((key, window_s), None)

    def _forget_idle(self, now: float) -> None:
        self._logs = {
            (key, window): entries
            for (key, window), entries in self._logs.items()
            if entries and entries[-1][0] > now - window
        }


# KEYS: one sorted set per limit (score: when an allowed request came; member: unique).
# ARGV: now, window_s, member, count (1) or only look (0), then one limit per key.
# Returns the wait in seconds as a string (Lua numbers come back as integers), "0" if allowed.
_MOVING_WINDOW = """
local now, window, member, count = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local limit = tonumber(ARGV[4 + i])
  local size = redis.call('ZCARD', key)
  if size >= limit then
    local room = redis.call('ZRANGE', key, size - limit, size - limit, 'WITHSCORES')
    local until_room = math.max(tonumber(room[2]) + window - now, 0.001)
    if until_room > wait then wait = until_room end
  end
end
if wait == 0 and count == '1' then
  for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, math.ceil(window * 1000))
  end
end
return tostring(wait)
"""


class RedisRateLimiter:
    """Shared limits in Redis. While Redis cannot be reached (down, restarting, or too slow to
    answer in time) each process counts on its own instead: limits get looser by the number of
    processes, but a sign-in brake never vanishes because an attacker made Redis slow, and a
    Redis outage never locks customers out."""

    def __init__(self, url: str, prefix: str, clock: Callable[[], float] = time.time) -> None:
        self._redis = connect(url)
        self._prefix = prefix
        self._clock = clock
        self._script = self._redis.register_script(_MOVING_WINDOW)
        self._local = MemoryRateLimiter(clock)

    def _name(self, key: str, window_s: int) -> str:
        return f"{self._prefix}:rate:{window_s}:{key}"

    async def _run(
        self, limits: Sequence[tuple[str, int]], window_s: int, member: str, count: bool
    ) -> float:
        try:
            reply = await self._script(
                keys=[self._name(key, window_s) for key, _ in limits],
                args=[self._clock(), window_s, member, "1" if count else "0"]
                + [limit for _, limit in limits],
            )
        except RedisError as exc:
            log.warning(
                "rate limit counted in this process; redis unavailable", extra={"error": str(exc)}
            )
            if count:
                return await self._local.hit_all(limits, window_s, member)
            key, limit = limits[0]
            return await self._local.peek(key, limit, window_s)
        return float(reply)

    async def hit(self, key: str, limit: int, window_s: int) -> float:
        return await self.hit_all([(key, limit)], window_s)

    async def hit_all(
        self, limits: Sequence[tuple[str, int]], window_s: int, ticket: str | None = None
    ) -> float:
        """One round trip for all the counters."""
        if not limits:
            return 0.0
        return await self._run(limits, window_s, ticket or new_ticket(), count=True)

    async def peek(self, key: str, limit: int, window_s: int) -> float:
        return await self._run([(key, limit)], window_s, "", count=False)

    async def refund(self, key: str, window_s: int, ticket: str) -> None:
        await self._local.refund(key, window_s, ticket)
        try:
            await self._redis.zrem(self._name(key, window_s), ticket)
        except RedisError as exc:
            log.warning("rate limit refund skipped", extra={"error": str(exc)})

    async def reset(self, key: str, window_s: int) -> None:
        await self._local.reset(key, window_s)
        try:
            await self._redis.delete(self._name(key, window_s))
        except RedisError as exc:
            log.warning("rate limit reset skipped", extra={"error": str(exc)})

    async def close(self) -> None:
        await self._redis.aclose()
