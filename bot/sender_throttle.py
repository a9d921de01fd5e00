"""Customers who write faster than the bot should answer, on any channel.

On Slack, Telegram and email the platform has already taken the customer's message, so
refusing it would lose it (Slack gives up after three retries) or stall the platform's
queue behind one sender (Telegram redelivers a refused update before any later one). So
such a message is kept for agents, the bot does not answer it, and the sender is told once
per window. The web chat refuses with a 429 earlier, since its client keeps and resends.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.rate_limits import RateLimiter

WINDOW_S = 60


class Admission(enum.Enum):
    ANSWER = "answer"
    NOTIFY = "notify"
    """Over the limit, and not yet told in this window."""
    SILENT = "silent"


@dataclass(frozen=True, slots=True)
class SenderThrottle:
    limiter: RateLimiter
    per_minute: int
    limited_at_the_door: frozenset[str] = frozenset()
    """Channels that refuse a flood themselves (the web chat's 429): not counted twice."""

    async def admit(self, channel: str, external_user: str) -> Admission:
        if channel in self.limited_at_the_door:
            return Admission.ANSWER
        key = f"sender:{channel}:{external_user}"
        if await self.limiter.hit(key, self.per_minute, WINDOW_S) == 0:
            return Admission.ANSWER
        if await self.limiter.hit(f"{key}:told", 1, WINDOW_S) == 0:
            return Admission.NOTIFY
        return Admission.SILENT
