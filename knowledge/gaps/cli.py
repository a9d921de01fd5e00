"""`deskbot gaps list`."""

from __future__ import annotations

import asyncio
import json

import click


@click.group()
def gaps() -> None:
    """Content gaps: unanswered customer questions grouped into suggested intents."""


@gaps.command("list")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: clusters and weekly.")
@click.pass_context
def gaps_list(ctx: click.Context, days: int, as_json: bool) -> None:
    """Suggested intents by size and recency, and the weekly share of questions in gaps."""
    from bot.cli import _prepared, _settings
    from knowledge.gaps.finder import GapFinder

    settings = _settings(ctx)

    async def run() -> dict[str, object]:
        async with _prepared(settings) as services:
            finder = GapFinder(services.sessions, services.knowledge, services.nlu)  # type: ignore[attr-defined]
            clusters = [c.to_json() for c in await finder.clusters(days)]
            return {"clusters": clusters, "weekly": await finder.weekly_share(max(1, days // 7))}

    result = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    clusters: list[dict[str, object]] = result["clusters"]  # type: ignore[assignment]
    for c in clusters:
        examples = c["examples"]
        assert isinstance(examples, list)
        click.echo(f"{c['name']}  ({c['size']} questions, {c['language']}, last {c['last_seen']})")
        for text in examples[:3]:
            click.echo(f"    {text}")
        if c["suggested_answer"]:
            click.echo(f"  answer: {c['suggested_answer']}")
    if not clusters:
        click.echo("no gaps")
    for week in result["weekly"]:  # type: ignore[attr-defined]
        click.echo(f"week of {week['week']}: {week['in_gaps']}/{week['questions']} in gaps")
