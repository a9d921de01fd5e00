"""Reading articles from files and splitting them into passages (no database needed)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from knowledge.articles.passages import split
from knowledge.articles.sources import read_csv, read_html, read_named, read_path
from knowledge.errors import ImportFormatError

EXPORT_MD = """---
title: Export everything
url: https://help.example.com/export
---
Intro paragraph about exports.

## From the web app

To export your files:

1. Open **Settings**
2. Click [Export](https://x.example) and wait

## From the desktop app

Use `acme export --all`.
"""


def test_markdown_front_matter_headings_lists_and_lead_ins() -> None:
    article = read_named("guides/export.md", EXPORT_MD.encode())[0]
    assert (article.slug, article.title, article.url, article.language) == (
        "guides/export",
        "Export everything",
        "https://help.example.com/export",
        "en",
    )
    passages = split(article.body)
    assert [p.heading for p in passages] == ["", "From the web app", "From the desktop app"]
    assert passages[1].text == "To export your files:\n1. Open Settings\n2. Click Export and wait"
    assert passages[2].text == "Use acme export --all."


def test_title_from_the_first_heading_or_the_file_name_and_chinese_detected() -> None:
    titled = read_named("a.md", "# 如何导出文件\n\n打开设置，点击导出。".encode())[0]
    assert (titled.title, titled.language, titled.body) == (
        "如何导出文件",
        "zh",
        "打开设置，点击导出。",
    )
    untitled = read_named("reset-password.md", b"Click forgot password.")[0]
    assert untitled.title == "reset password"


def test_html_and_plain_text() -> None:
    page = read_html(
        "faq/refunds.html",
        "<html><head><title>Refunds &amp; credits</title><style>p{}</style></head>"
        "<body><h2>Asking for one</h2><p>Write to <b>billing</b> within 30 days.</p></body></html>",
    )
    assert page.title == "Refunds & credits" and page.slug == "faq/refunds"
    assert [(p.heading, p.text) for p in split(page.body)] == [
        ("Asking for one", "Write to billing within 30 days.")
    ]
    text = read_named("hours.txt", b"Support hours\n\nWe answer 9-18 on weekdays.")[0]
    assert (text.title, text.body) == ("Support hours", "We answer 9-18 on weekdays.")


def test_csv_with_optional_url_and_language() -> None:
    drafts = read_csv(
        "id,title,body,url,language\n"
        "a1,Reset,Click forgot password.,https://h.example/a1,\n"
        "a2,重置密码,点击忘记密码。,,zh\n"
    )
    assert [(d.slug, d.url, d.language) for d in drafts] == [
        ("a1", "https://h.example/a1", "en"),
        ("a2", None, "zh"),
    ]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.csv", b"id,title\n1,x\n", "missing ['body']"),
        ("a.csv", b"id,title,body\n1,,text\n", "line 2: the article has no title"),
        ("a.csv", b"id,title,body,language\n1,t,b,fr\n", "language 'fr'"),
        ("a.csv", b"id,title,body,url\n1,t,b,javascript:alert(1)\n", "must be an http(s)"),
        ("a.md", b"# Only a title\n", "has no text"),
        ("a.md", b"---\n: [\n---\nbody", "front matter"),
        ("a.md", b"\xff\xfe\x00bad", "not UTF-8"),
        ("a.pdf", b"%PDF", "not an article file"),
        ("a.md", b"# T\n\nnul \x00 here", "NUL character"),
        ("a.zip", b"PK not really", "not a zip file"),
    ],
)
def test_bad_input_is_a_clear_error(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ImportFormatError, match=re.escape(message)):
        read_named(name, data)


def test_a_folder_and_a_zip_of_articles(tmp_path: Path) -> None:
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "refunds.md").write_text("# Refunds\n\nWithin 30 days.", "utf-8")
    (tmp_path / "hours.txt").write_text("Hours\nNine to six.", "utf-8")
    (tmp_path / ".hidden.md").write_text("# Secret\n\nno", "utf-8")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG")
    drafts = read_path(tmp_path)
    assert sorted(d.slug for d in drafts) == ["billing/refunds", "hours"]

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("help/refunds.md", "# Refunds\n\nWithin 30 days.")
        archive.writestr("__MACOSX/help/._refunds.md", "junk")
        archive.writestr("more.csv", "id,title,body\nx1,Hours,Nine to six.\n")
    (tmp_path / "help.zip").write_bytes(buffer.getvalue())
    zipped = read_path(tmp_path / "help.zip")
    assert sorted(d.slug for d in zipped) == ["help/refunds", "x1"]


def test_two_articles_with_one_id_and_an_empty_folder_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,title,body\nx,One,text\nx,Two,text\n", "utf-8")
    with pytest.raises(ImportFormatError, match="two articles with id 'x'"):
        read_path(tmp_path / "a.csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImportFormatError, match=r"no \.md"):
        read_path(empty)


def test_a_long_paragraph_is_cut_at_sentence_ends() -> None:
    body = " ".join(f"Sentence number {i} says something useful." for i in range(80))
    passages = split(body)
    assert len(passages) > 1
    assert all(len(p.text) <= 1500 for p in passages)
    assert all(p.text.endswith(".") for p in passages)


def test_the_demo_help_centre_has_every_article_in_english_and_chinese() -> None:
    from collections import Counter

    from knowledge.articles.demo import demo_articles

    drafts = demo_articles()
    by_language = Counter(d.language for d in drafts)
    assert by_language["en"] >= 15 and by_language["zh"] >= 15
    assert {d.slug for d in drafts if d.language == "en"} == {
        d.slug for d in drafts if d.language == "zh"
    }
    assert all(len(split(d.body)) >= 2 for d in drafts)
