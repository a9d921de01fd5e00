"""Signed visitor identity: the embedding site vouches for who its signed-in user is.

The site signs the exact JSON text it puts in the widget tag with a secret it shares with
deskbot (HMAC-SHA256, hex), as Intercom's identity verification does. A visitor cannot claim
another user's id without the secret, and a signature older than the allowed age is stale.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass

MAX_IDENTITY_CHARS = 2000
_HEX = re.compile(r"[0-9a-f]{64}")
CLOCK_SKEW_S = 300
"""How far ahead of our clock a site's clock may run."""


class IdentityRejected(Exception):
    pass


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    user_id: str
    email: str | None
    name: str | None

    def visitor_id(self, secret: str) -> str:
        """The same on every device the user signs in from, so their chat follows them; keyed,
        so nobody who knows a user id can work out their chat's thread."""
        digest = hmac.new(secret.encode(), f"deskbot.user:{self.user_id}".encode(), hashlib.sha256)
        return SIGNED_IN_PREFIX + digest.hexdigest()[:31]


SIGNED_IN_PREFIX = "u"
"""Signed-in visitors' ids start with it; guests' are uuid4 hex, which never do."""


def is_signed_in_visitor(visitor_id: str) -> bool:
    return visitor_id.startswith(SIGNED_IN_PREFIX)


def sign_identity(secret: str, identity: str) -> str:
    return hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()


def verify_identity(
    secret: str, identity: str, signature: str, max_age_s: int, now: float | None = None
) -> VerifiedIdentity:
    if not secret:
        raise IdentityRejected("identity verification is not set up on this server")
    if len(identity) > MAX_IDENTITY_CHARS:
        raise IdentityRejected(f"the identity is over {MAX_IDENTITY_CHARS} characters")
    given = signature.strip().lower()
    if not _HEX.fullmatch(given) or not hmac.compare_digest(sign_identity(secret, identity), given):
        raise IdentityRejected("the identity's signature does not match")
    try:
        data = json.loads(identity)
    except ValueError:
        raise IdentityRejected("the identity is not JSON") from None
    if not isinstance(data, dict):
        raise IdentityRejected("the identity must be a JSON object")
    issued_at = data.get("issued_at")
    if (
        not isinstance(issued_at, int | float)
        or isinstance(issued_at, bool)
        or not math.isfinite(issued_at)
    ):
        raise IdentityRejected("the identity needs issued_at (Unix seconds)")
    age = (time.time() if now is None else now) - issued_at
    if age > max_age_s:
        raise IdentityRejected("the identity's signature is stale; sign it again")
    if age < -CLOCK_SKEW_S:
        raise IdentityRejected("the identity's issued_at is in the future")
    return VerifiedIdentity(
        user_id=_text(data, "user_id", 200, required=True) or "",
        email=_email(_text(data, "email", 320)),
        name=_text(data, "name", 200),
    )


def _text(data: dict[str, object], key: str, limit: int, required: bool = False) -> str | None:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or value == "":
        if required:
            raise IdentityRejected(f"the identity needs {key}")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise IdentityRejected(f"the identity's {key} must be text of at most {limit} characters")
    cleaned = " ".join(value.split())
    if required and not cleaned:
        raise IdentityRejected(f"the identity needs {key}")
    return cleaned or None


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    if "@" not in value or " " in value:
        raise IdentityRejected("the identity's email is not an email address")
    return value.lower()
