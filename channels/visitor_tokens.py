"""Signed web-chat visitor tokens: one visitor can never read or write another's chat."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "deskbot.webchat.visitor"


class TokenRejected(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Visitor:
    visitor_id: str
    thread_id: str


class VisitorTokens:
    def __init__(self, secret: str, max_age_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self._max_age = max_age_s

    def issue(self, visitor: Visitor) -> str:
        return self._serializer.dumps({"v": visitor.visitor_id, "t": visitor.thread_id})

    def verify(self, token: str) -> Visitor:
        try:
            data = self._serializer.loads(token, max_age=self._max_age)
        except SignatureExpired:
            raise TokenRejected("the visitor token has expired; start a new chat") from None
        except BadSignature:
            raise TokenRejected("the visitor token is not valid") from None
        if not isinstance(data, dict) or not {"v", "t"} <= data.keys():
            raise TokenRejected("the visitor token is not valid")
        return Visitor(str(data["v"]), str(data["t"]))
