"""Failed sign-ins per client address and per account in a sliding window (brute-force brake)."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable


class LoginLimiter:
    def __init__(
        self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, *keys: str) -> float:
        """Seconds until another attempt is allowed for all of `keys`; 0 when allowed now."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.max_failures:
                wait = max(wait, failures[0] + self.window_s - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = self._clock()
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, account_key: str) -> None:
        self._failures.pop(account_key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures
