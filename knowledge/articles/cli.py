"""`deskbot articles import|list|evaluate`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from knowledge.errors import KnowledgeError


@click.group()
def articles() -> None:
    """Help-centre articles the bot answers from."""


@articles.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--replace", is_flag=True, help="Delete articles that the source does not have.")
@click.pass_context
def articles_import(ctx: click.Context, source: Path, replace: bool) -> None:
    """Import Markdown, HTML or text files, a folder or zip of them, or a CSV
    `id,title,body[,url][,language]`. The running server picks the change up at once."""
    from bot.cli import _prepared, _settings
    from knowledge.articles.sources import read_path

    settings = _settings(ctx)
    try:
        drafts = read_path(source, settings.max_import_bytes * 8)
    except KnowledgeError as exc:
        raise click.ClickException(str(exc)) from None

    async def run() -> dict[str, int]:
        async with _prepared(settings) as services:
            return await services.articles.import_drafts(drafts, "cli", replace)  # type: ignore[attr-defined,no-any-return]

    counts = asyncio.run(run())
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))


@articles.command("list")
@click.option("--language", type=click.Choice(["en", "zh"]), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def articles_list(ctx: click.Context, language: str | None, as_json: bool) -> None:
    """Every article: id, language, passages, title."""
    from bot.cli import _prepared, _settings

    settings = _settings(ctx)

    async def run() -> list[dict[str, object]]:
        async with _prepared(settings) as services:
            views = await services.articles.list(language)  # type: ignore[attr-defined]
        return [
            {
                "id": v.id,
                "slug": v.slug,
                "language": v.language,
                "title": v.title,
                "url": v.url,
                "enabled": v.enabled,
                "passages": len(v.passages),
            }
            for v in views
        ]

    rows = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        state = "" if row["enabled"] else "  (disabled)"
        click.echo(
            f"{row['id']:>5}  {row['language']}  {row['slug']:<32} {row['passages']:>3} passages  "
            f"{row['title']}{state}"
        )
    click.echo(f"{len(rows)} articles")


@articles.command("evaluate")
@click.option(
    "--articles",
    "articles_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Articles: a CSV id,title,body[,url], or any file, folder or zip `import` reads.",
)
@click.option(
    "--queries",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV text,article_id: questions and the article that answers each.",
)
@click.option(
    "--unanswerable",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV text: questions no article answers (the bot should abstain).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
def articles_evaluate(
    articles_path: Path, queries: Path, unanswerable: Path | None, as_json: bool
) -> None:
    """P@1, MRR (top 5), answered share and precision, abstain rate, index and query
    latency, through the bot's own search and threshold. Nothing is stored."""
    from bot.cli import _print_figures
    from bot.nlu.embeddings import shared
    from knowledge.articles.evaluate import evaluate, read_queries, read_unanswerable
    from knowledge.articles.sources import read_path

    try:
        drafts = read_path(articles_path)
        labelled = read_queries(queries)
        off_topic = read_unanswerable(unanswerable) if unanswerable else []
        report = evaluate(drafts, labelled, off_topic, shared())
    except KnowledgeError as exc:
        raise click.ClickException(str(exc)) from None
    _print_figures(report.to_json(), as_json)
