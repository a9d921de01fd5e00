"""Reading help-centre articles from files: Markdown, HTML, plain text, a folder or a zip of
them, or a CSV `id,title,body[,url][,language]`. Each becomes one ArticleDraft.

Markdown may start with front matter (`---` lines of `title:`, `url:`, `language:`, `id:`);
otherwise its first `# heading` is the title, else the file name. HTML is converted to
Markdown (html2text). A plain text file's first line is its title.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import html2text
import yaml

from bot.nlu.text import detect_language
from knowledge.errors import ImportFormatError

MARKDOWN = frozenset({".md", ".markdown", ".mdown"})
HTML = frozenset({".html", ".htm"})
TEXT = frozenset({".txt", ".text"})
CSV = frozenset({".csv"})
SUFFIXES = MARKDOWN | HTML | TEXT | CSV
LANGUAGES = frozenset({"en", "zh"})
MAX_TITLE = 300
MAX_SLUG = 128
MAX_URL = 2000

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.DOTALL)
_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SLUG_JUNK = re.compile(r"[^\w/.-]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class ArticleDraft:
    slug: str
    title: str
    body: str
    """Markdown (or plain text, which reads as Markdown paragraphs)."""
    url: str | None
    language: str


def slugify(name: str) -> str:
    slug = _SLUG_JUNK.sub("-", name.strip().lower()).strip("-/.")
    if not slug:
        raise ImportFormatError(f"{name!r} gives no usable article id")
    return slug[:MAX_SLUG]


def _language(value: str | None, title: str, body: str, source: str) -> str:
    if value:
        value = value.strip().lower()
        if value not in LANGUAGES:
            raise ImportFormatError(f"{source}: language {value!r} is not one of en, zh")
        return value
    return detect_language(f"{title}\n{body[:2000]}")


def _url(value: object, source: str) -> str | None:
    if value in (None, ""):
        return None
    url = str(value).strip()
    if not re.match(r"^(https?://|/)", url) or len(url) > MAX_URL:
        raise ImportFormatError(f"{source}: url {url[:80]!r} must be an http(s) or /path link")
    return url


def draft(
    slug: str,
    title: str,
    body: str,
    url: object = None,
    language: str | None = None,
    source: str = "article",
) -> ArticleDraft:
    """A validated draft: a clear error for a missing title or body, never a silent skip."""
    if any("\x00" in str(v) for v in (slug, title, body, url or "")):
        raise ImportFormatError(f"{source}: contains a NUL character, which text cannot hold")
    title = " ".join(title.split())
    if not title:
        raise ImportFormatError(f"{source}: the article has no title")
    if len(title) > MAX_TITLE:
        raise ImportFormatError(f"{source}: the title is longer than {MAX_TITLE} characters")
    body = body.strip()
    if not body:
        raise ImportFormatError(f"{source}: the article {title!r} has no text")
    return ArticleDraft(
        slugify(slug), title, body, _url(url, source), _language(language, title, body, source)
    )


def read_markdown(name: str, text: str, title: str = "") -> ArticleDraft:
    meta: dict[str, object] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as exc:
            raise ImportFormatError(f"{name}: front matter is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ImportFormatError(f"{name}: front matter must be `key: value` lines")
        meta = loaded
        text = text[match.end() :]
    title = str(meta.get("title") or title)
    if not title:
        heading = _H1.search(text)
        if heading:
            title = heading.group(1)
            text = text[: heading.start()] + text[heading.end() :]
        else:
            title = PurePosixPath(name).stem.replace("-", " ").replace("_", " ")
    language = meta.get("language")
    return draft(
        str(meta.get("id") or _stem_of(name)),
        title,
        text,
        meta.get("url"),
        str(language) if language else None,
        name,
    )


def read_html(name: str, text: str) -> ArticleDraft:
    converter = html2text.HTML2Text()
    converter.ignore_images = True
    converter.body_width = 0
    converter.ignore_emphasis = True
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    body = re.sub(r"<head\b.*?</head>", "", text, flags=re.IGNORECASE | re.DOTALL)
    named = html.unescape(title.group(1)).strip() if title else ""
    return read_markdown(name, converter.handle(body), named)


def read_text(name: str, text: str) -> ArticleDraft:
    first, _, rest = text.strip().partition("\n")
    return draft(_stem_of(name), first, rest or first, source=name)


def read_csv(text: str, source: str = "CSV") -> list[ArticleDraft]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    missing = {"id", "title", "body"} - columns
    if missing:
        raise ImportFormatError(
            f"{source}: needs columns id,title,body[,url][,language]; missing {sorted(missing)}"
        )
    drafts: list[ArticleDraft] = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        drafts.append(
            draft(
                row["id"] or "",
                row["title"],
                row["body"],
                row.get("url"),
                row.get("language") or None,
                f"{source} line {line}",
            )
        )
    return drafts


def _stem_of(name: str) -> str:
    path = PurePosixPath(name)
    return str(path.with_suffix("")) if path.suffix else str(path)


def read_named(name: str, data: bytes) -> list[ArticleDraft]:
    """One file, by the suffix of its name."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".zip":
        return read_zip(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFormatError(f"{name}: not UTF-8 text") from None
    if suffix in MARKDOWN:
        return [read_markdown(name, text)]
    if suffix in HTML:
        return [read_html(name, text)]
    if suffix in TEXT:
        return [read_text(name, text)]
    if suffix in CSV:
        return read_csv(text, name)
    raise ImportFormatError(
        f"{name}: not an article file (use .md, .html, .txt, .csv, a folder or a .zip)"
    )


def read_zip(data: bytes, name: str = "zip", max_bytes: int | None = None) -> list[ArticleDraft]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ImportFormatError(f"{name}: not a zip file") from None
    limit = max_bytes or max(len(data) * 20, 8 << 20)
    members = [
        m
        for m in archive.infolist()
        if not m.is_dir()
        and PurePosixPath(m.filename).suffix.lower() in SUFFIXES
        and not any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(m.filename).parts)
    ]
    if sum(m.file_size for m in members) > limit:
        raise ImportFormatError(f"{name}: unpacks to more than {limit} bytes")
    drafts: list[ArticleDraft] = []
    for member in sorted(members, key=lambda m: m.filename):
        drafts.extend(read_named(member.filename, archive.read(member)))
    return _unique(drafts, name)


def read_path(path: Path, max_bytes: int = 64 << 20) -> list[ArticleDraft]:
    """A file or a folder (every article file under it; ids are paths relative to it)."""
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if sum(p.stat().st_size for p in files) > max_bytes:
            raise ImportFormatError(f"{path}: more than {max_bytes} bytes of articles")
        drafts: list[ArticleDraft] = []
        for file in files:
            drafts.extend(read_named(file.relative_to(path).as_posix(), file.read_bytes()))
        if not drafts:
            raise ImportFormatError(f"{path}: no .md, .html, .txt or .csv files in it")
        return _unique(drafts, str(path))
    if not path.is_file():
        raise ImportFormatError(f"{path}: no such file or folder")
    if path.stat().st_size > max_bytes:
        raise ImportFormatError(f"{path}: larger than {max_bytes} bytes")
    return _unique(read_named(path.name, path.read_bytes()), str(path))


def _unique(drafts: Iterable[ArticleDraft], source: str) -> list[ArticleDraft]:
    seen: set[tuple[str, str]] = set()
    out: list[ArticleDraft] = []
    for d in drafts:
        key = (d.slug, d.language)
        if key in seen:
            raise ImportFormatError(f"{source}: two articles with id {d.slug!r} ({d.language})")
        seen.add(key)
        out.append(d)
    return out
