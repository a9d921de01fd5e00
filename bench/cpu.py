"""Where the CPU went during a run: per process group, read from /proc (Linux only).

On a 2-core machine the server, PostgreSQL, Redis and the load generator share the same
cores, so throughput per CPU-second tells more than throughput alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, float] | None:
    """(command name, user + system CPU seconds) of one process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return name, (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            continue
        todo.extend(map(int, children))
    return pids


def _named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] == name:
                found.append(int(entry.name))
    return found


def _busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


@dataclass(frozen=True)
class Usage:
    seconds: dict[str, float]
    machine_busy: float
    """Share of all cores busy over the window, 0..1."""


class CpuMeter:
    """CPU seconds per group between `start()` and `stop()`. A process that exits inside the
    window (a short-lived PostgreSQL backend) takes its seconds with it, so groups are a
    lower bound."""

    def __init__(self, server_pid: int) -> None:
        self._groups: dict[str, Callable[[], list[int]]] = {
            "server": lambda: _tree(server_pid),
            "postgres": lambda: _named("postgres"),
            "redis": lambda: _named("redis-server"),
            "generator": lambda: [os.getpid()],
        }
        self._before: dict[str, dict[int, float]] = {}
        self._machine_before = (0.0, 0.0)

    def _sample(self) -> dict[str, dict[int, float]]:
        sample: dict[str, dict[int, float]] = {}
        for group, pids in self._groups.items():
            sample[group] = {}
            for pid in pids():
                stat = _stat(pid)
                if stat is not None:
                    sample[group][pid] = stat[1]
        return sample

    def start(self) -> None:
        self._before = self._sample()
        self._machine_before = _busy_seconds()

    def stop(self) -> Usage:
        after = self._sample()
        busy, total = _busy_seconds()
        seconds = {
            group: sum(t - self._before.get(group, {}).get(pid, 0.0) for pid, t in times.items())
            for group, times in after.items()
        }
        share = (busy - self._machine_before[0]) / max(total - self._machine_before[1], 1e-9)
        return Usage(seconds, share)


def describe(usage: Usage, messages: int) -> str:
    per = ", ".join(
        f"{group} {seconds * 1000 / max(messages, 1):.1f}"
        for group, seconds in usage.seconds.items()
        if seconds > 0
    )
    return f"CPU ms per message: {per}; machine busy {usage.machine_busy:.0%}"
