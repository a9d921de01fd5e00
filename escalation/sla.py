"""SLA clocks that count business hours only, with a clock tests can control."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], datetime]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPEC = re.compile(
    r"^\s*(?P<d1>[a-z]{3})(-(?P<d2>[a-z]{3}))?\s+(?P<h1>\d{1,2}):(?P<m1>\d{2})"
    r"\s*-\s*(?P<h2>\d{1,2}):(?P<m2>\d{2})\s*$",
    re.IGNORECASE,
)


def system_clock() -> datetime:
    return datetime.now(UTC)


class BusinessHoursError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening hours in one time zone, e.g. parse('Mon-Fri 09:00-18:00', 'Europe/Berlin')."""

    zone: ZoneInfo
    days: frozenset[int]
    opens: time
    closes: time

    @classmethod
    def parse(cls, spec: str, timezone: str) -> BusinessHours:
        if spec.strip() == "24/7":
            return cls(_zone(timezone), frozenset(range(7)), time(0), time(23, 59, 59, 999999))
        match = _SPEC.match(spec)
        if not match:
            raise BusinessHoursError(
                f"business hours {spec!r}: write them like 'Mon-Fri 09:00-18:00'"
            )
        first = _day(match["d1"])
        last = _day(match["d2"] or match["d1"])
        days = frozenset(d % 7 for d in range(first, last + 1 if last >= first else last + 8))
        opens = time(int(match["h1"]), int(match["m1"]))
        closes = time(int(match["h2"]), int(match["m2"]))
        if closes <= opens:
            raise BusinessHoursError(f"business hours {spec!r}: closing time must follow opening")
        return cls(_zone(timezone), days, opens, closes)

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def next_opening(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.zone)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            start = datetime.combine(day, self.opens, self.zone)
            end = datetime.combine(day, self.closes, self.zone)
            if day.weekday() in self.days and local < end:
                return max(start, local).astimezone(UTC)
        raise BusinessHoursError("no opening hours in a week")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of open time has passed after `start`."""
        remaining = duration
        cursor = self.next_opening(start)
        while True:
            local = cursor.astimezone(self.zone)
            closing = datetime.combine(local.date(), self.closes, self.zone).astimezone(UTC)
            available = closing - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
            cursor = self.next_opening(closing + timedelta(microseconds=1))

    def open_time_between(self, start: datetime, end: datetime) -> timedelta:
        total = timedelta()
        cursor = self.next_opening(start)
        while cursor < end:
            local = cursor.astimezone(self.zone)
            closing = datetime.combine(local.date(), self.closes, self.zone).astimezone(UTC)
            total += min(closing, end) - cursor
            cursor = self.next_opening(closing + timedelta(microseconds=1))
        return total


@dataclass(frozen=True, slots=True)
class SlaTargets:
    first_response: timedelta
    resolution: timedelta


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BusinessHoursError(f"unknown time zone {name!r}") from None


def _day(name: str) -> int:
    try:
        return DAYS.index(name.lower())
    except ValueError:
        raise BusinessHoursError(f"unknown day {name!r}; use {', '.join(DAYS)}") from None
