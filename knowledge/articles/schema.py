"""The shape of an article in the API and the admin pages."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

Slug = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[\w][\w/.-]{0,127}$", max_length=128)
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200_000)]
Url = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^(https?://|/)\S*$", max_length=2000)
]
Language = Literal["en", "zh"]


class ArticleInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    language: Language = "en"
    title: Title
    body: Body
    """Markdown."""
    url: Url | None = None
    enabled: bool = True


class ArticlePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    url: Url | None = None
    enabled: bool | None = None


class PassageView(BaseModel):
    id: int
    heading: str
    text: str


class ArticleView(BaseModel):
    id: int
    slug: str
    language: str
    title: str
    body: str
    url: str | None
    enabled: bool
    version: int
    updated_by: str | None
    updated_at: str
    passages: list[PassageView]
