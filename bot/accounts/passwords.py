"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106), and a strength
check with zxcvbn: common passwords, keyboard walks, repeats and the user's own email or
name are refused, not only short ones."""

from __future__ import annotations

import re
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

MIN_LENGTH = 10
MIN_SCORE = 3  # zxcvbn's "safely unguessable": about 10^8 guesses or more
ZXCVBN_MAX = 72  # zxcvbn refuses longer input; a longer password is judged on its start
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("deskbot-timing-equaliser")


class WeakPassword(ValueError):
    pass


def hash_password(password: str, context: Iterable[str] = ()) -> str:
    """Hash a new password after checking it; `context`: the user's email, name and the like."""
    check_strength(password, context)
    return _hasher.hash(password)


def check_strength(password: str, context: Iterable[str] = ()) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    words = []
    for item in context:
        parts = [p for p in re.split(r"[@.\s_+-]+", item.lower()) if p]
        words += [item.lower(), "".join(parts), *parts]
    verdict = zxcvbn(password[:ZXCVBN_MAX], user_inputs=words)
    if verdict["score"] < MIN_SCORE:
        feedback = verdict["feedback"]
        advice = " ".join(filter(None, [feedback["warning"], *feedback["suggestions"]]))
        raise WeakPassword(
            "that password is too easy to guess (common, a pattern, or made of your email or "
            "name)" + (f": {advice}" if advice else "")
        )


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
