"""What one socket has shown: a message delivered twice (an outbox retry, a catch-up racing
the bus) is shown once, and a catch-up after a gap in the bus knows where to start."""

from __future__ import annotations

REMEMBERED = 1000


class ShownMessages:
    def __init__(self) -> None:
        self.last_id = 0
        self._ids: dict[int, None] = {}  # insertion-ordered: the oldest is forgotten first

    def first_time(self, message_id: int) -> bool:
        """Record the message as shown; False if it already was."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > REMEMBERED:
            del self._ids[next(iter(self._ids))]
        self.last_id = max(self.last_id, message_id)
        return True

    def start_after(self, message_id: int) -> None:
        """Everything up to `message_id` is shown (the page loaded it itself)."""
        self._ids.clear()
        self.last_id = message_id
