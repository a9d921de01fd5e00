"""The terminal channel behind `deskbot shell`: the shell prints replies as the engine returns them."""

from __future__ import annotations

from channels.base import DeliveryTarget, OutboundText

CHANNEL = "shell"


class TerminalOutput:
    """Marks replies delivered: they were already printed from the engine's answer."""

    name = CHANNEL

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        return None
