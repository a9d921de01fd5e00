"""The scenario suite (tests/scenarios/*.yml) through the real engine and the demo KB."""

from __future__ import annotations

import pytest

from bot.services import Services
from tests.scenarios import load_scenarios, run_scenario

SCENARIOS = load_scenarios()


def test_the_suite_is_large_and_bilingual() -> None:
    assert len(SCENARIOS) >= 40
    assert sum(s.source.endswith("_zh.yml") for s in SCENARIOS) >= 15
    assert sum(s.escalate_by is None for s in SCENARIOS) >= 15


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_scenario(services: Services, scenario) -> None:  # type: ignore[no-untyped-def]
    outcome = await run_scenario(services, scenario)
    assert outcome.passed, f"{outcome.describe()} ({outcome.reason})"
