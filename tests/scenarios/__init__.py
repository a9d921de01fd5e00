"""Multi-turn support conversations, as data: each either goes to a person by a given customer
turn or must stay with the bot. Run through the real engine by tests/test_scenarios.py and
bench/quality.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.services import Services
from channels.base import InboundMessage
from models import Conversation

FOLDER = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    turns: tuple[str, ...]
    escalate_by: int | None
    """Escalated at or before this customer turn (1-based); None: must stay with the bot."""
    source: str
    tier: str = "standard"
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: Scenario
    escalated_at: int | None
    reason: str | None

    @property
    def passed(self) -> bool:
        if self.scenario.escalate_by is None:
            return self.escalated_at is None
        return self.escalated_at is not None and self.escalated_at <= self.scenario.escalate_by

    def describe(self) -> str:
        expected = (
            "stay with the bot"
            if self.scenario.escalate_by is None
            else f"escalate by turn {self.scenario.escalate_by}"
        )
        got = "stayed" if self.escalated_at is None else f"escalated at turn {self.escalated_at}"
        return f"{self.scenario.source}: {self.scenario.name}: expected {expected}, {got}"


def load_scenarios(folder: Path = FOLDER) -> list[Scenario]:
    scenarios = []
    for path in sorted(folder.glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            if ("escalate_by" in item) == bool(item.get("stays_with_bot")):
                raise ValueError(f"{path.name}: {item['name']}: escalate_by or stays_with_bot")
            scenarios.append(
                Scenario(
                    item["name"],
                    tuple(item["turns"]),
                    item.get("escalate_by"),
                    path.name,
                    item.get("tier", "standard"),
                    item.get("attributes", {}),
                )
            )
    return scenarios


async def run_scenario(services: Services, scenario: Scenario) -> Outcome:
    """Every turn through the engine, as a new customer on the 'test' channel."""
    user = uuid.uuid4().hex
    for number, text in enumerate(scenario.turns, start=1):
        result = await services.engine.receive(
            InboundMessage("test", user, user, uuid.uuid4().hex, text)
        )
        if result.state == "queued":
            async with services.sessions() as session:
                conversation = await session.get_one(Conversation, result.conversation_id)
            return Outcome(scenario, number, conversation.escalation_reason)
    return Outcome(scenario, None, None)
