"""The terminal channel behind `deskbot shell`, which prints replies from the engine itself."""

from __future__ import annotations

from channels.base import DeliveryTarget, OutboundText

CHANNEL = "shell"


class TerminalOutput:
    """Marks replies delivered: they were already printed from the engine's answer."""

    name = CHANNEL

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        return None
