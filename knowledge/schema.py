"""The shape of an FAQ intent as people write it: in the API, in files, in the admin UI."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

INTENT_NAME = r"^[a-z][a-z0-9_]{0,63}$"
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_TEXTS_PER_LANGUAGE = 500

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
TextsByLanguage = dict[str, Annotated[list[Text], Field(max_length=MAX_TEXTS_PER_LANGUAGE)]]


def _check_languages(value: TextsByLanguage) -> TextsByLanguage:
    cleaned: TextsByLanguage = {}
    for language, texts in value.items():
        if not LANGUAGE.match(language):
            raise ValueError(f"{language!r} is not a language code like 'en' or 'zh'")
        unique = list(dict.fromkeys(t for t in texts))
        if unique:
            cleaned[language] = unique
    return cleaned


class IntentPatch(BaseModel):
    """A partial update: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    category: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")] | None = None
    examples: TextsByLanguage | None = None
    answers: TextsByLanguage | None = None
    enabled: bool | None = None
    irreversible: bool | None = None

    _languages = field_validator("examples", "answers")(
        lambda v: None if v is None else _check_languages(v)
    )


class IntentData(BaseModel):
    """A whole intent."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(pattern=INTENT_NAME)]
    category: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")] = "general"
    examples: TextsByLanguage = Field(default_factory=dict)
    answers: TextsByLanguage = Field(default_factory=dict)
    enabled: bool = True
    irreversible: bool = False
    """Its answer leads somewhere hard to undo (delete the account, cancel): the bot asks
    the customer to confirm before giving it, unless the question was unmistakable."""

    _languages = field_validator("examples", "answers")(_check_languages)


class IntentView(IntentData):
    """An intent as stored, with its bookkeeping."""

    version: int
    updated_by: str | None = None


class KnowledgeBaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    intents: list[IntentData]
