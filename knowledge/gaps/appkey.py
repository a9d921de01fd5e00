"""The application key under which the aiohttp app holds the gap finder."""

from __future__ import annotations

from aiohttp import web

from knowledge.gaps.finder import GapFinder

GAPS = web.AppKey("gaps", GapFinder)
