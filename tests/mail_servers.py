"""Real mail servers on loopback: an SMTP provider (aiosmtpd with STARTTLS and AUTH, keeping
what it is sent) and an IMAP mailbox (Debian's Dovecot, run from a temporary config)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER, SMTP_PASSWORD = "deskbot", "smtp-password"
IMAP_USER, IMAP_PASSWORD = "support@acme.test", "imap-password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class SmtpProvider:
    """The company's mail provider, as deskbot's SMTP settings point at it."""

    cert: Path
    key: Path
    port: int = field(default_factory=free_port)
    received: list[EmailMessage] = field(default_factory=list)
    refuse_next: int = 0
    _server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 try again later"
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content or b"")
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 OK"

    @staticmethod
    def _authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (SMTP_USER, SMTP_PASSWORD)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    async def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(
                self,
                tls_context=context,
                require_starttls=True,
                auth_required=True,
                authenticator=self._authenticate,
                hostname="localhost",
            ),
            host="127.0.0.1",
            port=self.port,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):  # a client still connected must not hang us
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None


@dataclass
class Dovecot:
    # Dovecot's own users (dovecot, dovenull, nobody) must reach these files, which pytest's
    # private tmp_path does not allow: a world-traversable directory of its own.
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="deskbot-imap-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            raise RuntimeError(
                "Dovecot not found: apt-get install dovecot-imapd (./dev test does it)"
            )
        self.directory.chmod(0o755)
        for sub in ("run", "state", "mail"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(self.directory / "mail", "nobody", "nogroup")
        (self.directory / "users").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n")
        config = self.directory / "dovecot.conf"
        config.write_text(
            textwrap.dedent(
                f"""\
                base_dir = {self.directory}/run
                state_dir = {self.directory}/state
                log_path = {self.directory}/dovecot.log
                listen = 127.0.0.1
                protocols = imap
                ssl = no
                disable_plaintext_auth = no
                auth_mechanisms = plain login
                mail_location = maildir:{self.directory}/mail/%n
                passdb {{
                  driver = passwd-file
                  args = scheme=PLAIN username_format=%u {self.directory}/users
                }}
                userdb {{
                  driver = static
                  args = uid=nobody gid=nogroup home={self.directory}/mail/%n
                }}
                service imap-login {{
                  chroot =
                  inet_listener imap {{
                    address = 127.0.0.1
                    port = {self.port}
                  }}
                  inet_listener imaps {{
                    port = 0
                  }}
                }}
                service anvil {{
                  chroot =
                }}
                """
            )
        )
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    async def ready(self) -> None:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError((self.directory / "dovecot.log").read_text())

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)
