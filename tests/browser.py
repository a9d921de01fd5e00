"""Debian's Chromium driven by Playwright (no browser download: executable_path)."""

from __future__ import annotations

import os
import shutil

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("DESKBOT_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError("Chromium not found: apt-get install chromium (./dev test does it)")
    return path
