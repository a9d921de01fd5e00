"""The Redis client every Redis-backed part of one process uses (bus, rate limits)."""

from __future__ import annotations

import redis.asyncio as redis

MAX_CONNECTIONS = 64
WAIT_FOR_CONNECTION_S = 5.0


def connect(url: str) -> redis.Redis:
    """A client whose pool waits for a free connection instead of failing: redis-py's default
    pool raises "Too many connections" past 100 concurrent commands, which a few hundred busy
    conversations reach, and a failed publish would keep a reply from other processes."""
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=WAIT_FOR_CONNECTION_S
    )
    return redis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
