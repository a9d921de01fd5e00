"""Bar charts as data for the templates: each bar's share of the largest, for CSS widths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    percent: int


def bar_rows(pairs: Sequence[tuple[str, float]]) -> list[Bar]:
    largest = max((value for _, value in pairs), default=0) or 1
    return [Bar(label, value, round(100 * value / largest)) for label, value in pairs]
