"""An article's Markdown split into passages: one per paragraph, list, table or code block,
each with the headings it sits under. A short lead-in ("To export:") stays with what follows."""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

HEADING_JOINER = " › "
LEAD_IN_CHARS = 120
"""A block this short that ends with a colon introduces the next one."""
MAX_PASSAGE_CHARS = 1500
"""Longer paragraphs are cut at sentence ends so one passage stays one answer."""

_markdown = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True, slots=True)
class Passage:
    heading: str
    text: str


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
        elif child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
    return "".join(parts).strip()


def _blocks(markdown: str) -> list[tuple[int, str]]:
    """(heading level or 0, plain text) for each top-level block, in order."""
    tokens = _markdown.parse(markdown)
    blocks: list[tuple[int, str]] = []
    depth = 0
    lines: list[str] = []
    list_markers: list[list[int]] = []  # per open list: [ordered?, items so far]
    heading_level = 0
    for index, token in enumerate(tokens):
        if token.type in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1) - 1
            list_markers.append([token.type == "ordered_list_open", start])
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            list_markers.pop()
        if token.type == "heading_open":
            heading_level = int(token.tag[1])
        elif token.type == "inline":
            text = _inline_text(token)
            if list_markers and tokens[index - 1].type == "paragraph_open":
                indent = "  " * (len(list_markers) - 1)
                first_in_item = index >= 2 and tokens[index - 2].type == "list_item_open"
                ordered, count = list_markers[-1]
                if first_in_item:
                    list_markers[-1][1] = count = count + 1
                marker = f"{count}." if ordered else "•"
                text = f"{indent}{marker} {text}" if first_in_item else f"{indent}  {text}"
            if text:
                lines.append(text)
        elif token.type in ("fence", "code_block"):
            lines.append(token.content.rstrip("\n"))
        elif token.type == "html_block":
            lines.append(token.content.strip())
        elif token.type == "tr_close":
            lines.append("")  # cells of one row are joined below
        depth += token.nesting
        if depth == 0 and token.nesting <= 0 and lines:
            if heading_level:
                blocks.append((heading_level, " ".join(lines)))
            else:
                blocks.append((0, _join_rows(lines, token.type == "table_close")))
            lines, heading_level = [], 0
    return blocks


def _join_rows(lines: list[str], table: bool) -> str:
    if not table:
        return "\n".join(lines)
    rows: list[list[str]] = [[]]
    for line in lines:
        if line == "":
            rows.append([])
        else:
            rows[-1].append(line)
    return "\n".join(" | ".join(row) for row in rows if row)


def _cut(text: str) -> list[str]:
    if len(text) <= MAX_PASSAGE_CHARS:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _sentences(text):
        if current and len(current) + len(sentence) > MAX_PASSAGE_CHARS:
            pieces.append(current.strip())
            current = ""
        current += sentence
    if current.strip():
        pieces.append(current.strip())
    return pieces


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch in ".!?。！？\n" and (i + 1 == len(text) or text[i + 1] in " \n" or ch in "。！？"):
            out.append(text[start : i + 1])
            start = i + 1
    if start < len(text):
        out.append(text[start:])
    return out


def split(markdown: str) -> list[Passage]:
    """The passages of one article body; a body with no text gives none."""
    headings: list[tuple[int, str]] = []
    passages: list[Passage] = []
    lead_in = ""
    for level, text in _blocks(markdown):
        if level:
            headings = [(lv, t) for lv, t in headings if lv < level] + [(level, text)]
            if lead_in:
                passages.append(Passage(_heading(headings[:-1]), lead_in))
                lead_in = ""
            continue
        if lead_in:
            text = f"{lead_in}\n{text}"
            lead_in = ""
        if len(text) <= LEAD_IN_CHARS and text.rstrip().endswith((":", "：")):
            lead_in = text
            continue
        for piece in _cut(text):
            passages.append(Passage(_heading(headings), piece))
    if lead_in:
        passages.append(Passage(_heading(headings), lead_in))
    return passages


def _heading(headings: list[tuple[int, str]]) -> str:
    return HEADING_JOINER.join(text for _, text in headings)[:300]
