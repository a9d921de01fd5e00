"""What the reports page shows about article answers and content gaps."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot import keys
from knowledge.articles.report import article_figures
from knowledge.gaps.appkey import GAPS
from models.base import utcnow


async def help_centre_context(request: web.Request, days: int) -> dict[str, object]:
    since = utcnow() - timedelta(days=days)
    return {
        "articles": await article_figures(request.config_dict[keys.SESSIONS], since),
        "gap_weeks": await request.config_dict[GAPS].weekly_share(max(1, -(-days // 7))),
    }
