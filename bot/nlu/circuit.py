"""A circuit breaker: after repeated failures, stop calling for a while, then try once."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 3,
        reset_after_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_after_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def failing(self) -> bool:
        """The last call failed (the breaker may still be closed, below its threshold)."""
        return self._failures > 0 or self._opened_at is not None

    def allows(self) -> bool:
        """Closed: yes. Open: no. Half-open: yes to exactly one trial call (which re-opens
        the breaker on failure); every other caller meanwhile is told no at once, instead of
        each waiting out its own timeout against a service that is still down. A trial that
        never reports back (its caller was cancelled) gives way to a new one after
        `reset_after_s`. Callers on one event loop need no lock: nothing here awaits."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self._clock()
        if self._trial_started is not None and now - self._trial_started < self.reset_after_s:
            return False
        self._trial_started = now
        return True

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_started = None

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self._threshold or self.state is BreakerState.HALF_OPEN:
            self._opened_at = self._clock()
        self._trial_started = None
