"""The bounce mailbox over IMAP (RFC 3501, 9051): MAILER_BOUNCE_MAILBOX is
`imap[s]://user:password@host:port/FOLDER[?timeout=S&verify=false]`, user and password
URL-encoded. Messages are read with BODY.PEEK (nothing marked \\Seen) and only up to the
limit mailer reads of a report; each processed one gets the keyword `$MailerProcessed`
(or \\Seen, on a server that keeps no keywords), so that the next fetch skips it.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.bounces.mime import MAX_BYTES
from mailer.errors import ConfigError, MailerError

__all__ = [
    "KEYWORD",
    "Mailbox",
    "MailboxError",
    "MailboxURL",
    "mailbox_name",
    "parse_mailbox_url",
    "probe",
]

VARIABLE = "MAILER_BOUNCE_MAILBOX"
KEYWORD = "$MailerProcessed"
_PORTS = {"imap": 143, "imaps": 993}
_PER_COMMAND = 200  # UIDs per command: keeps each command line short
_FETCHED = re.compile(rb"UID (\d+)|RFC822\.SIZE (\d+)")


class MailboxError(MailerError):
    """The mailbox cannot be reached, logged in to, or read."""


@dataclass(frozen=True, slots=True)
class MailboxURL:
    """Where the bounce mailbox is and how to log in."""

    secure: bool
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    verify: bool = True
    timeout: float = 30.0

    def describe(self) -> str:
        """The URL without its password."""
        scheme = "imaps" if self.secure else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


def parse_mailbox_url(url: str) -> MailboxURL:
    """Read MAILER_BOUNCE_MAILBOX; a wrong value raises ConfigError naming it."""
    parts = urlsplit(url)
    if parts.scheme not in _PORTS or not parts.hostname:
        raise ConfigError(VARIABLE, "must be imap://user:password@host:port/FOLDER or imaps://...")
    if not parts.username or parts.password is None:
        raise ConfigError(VARIABLE, "needs a user and a password (URL-encoded)")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        port = parts.port or _PORTS[parts.scheme]
        timeout = float(query.get("timeout", 30))
    except ValueError as exc:
        raise ConfigError(VARIABLE, f"bad port or timeout: {exc}") from exc
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    if any(ch in folder for ch in "\r\n\0") or len(folder) > 200:
        raise ConfigError(VARIABLE, "the folder name holds a line break or is too long")
    return MailboxURL(
        secure=parts.scheme == "imaps",
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password),
        folder=folder,
        verify=query.get("verify", "true").lower() not in {"0", "false", "no"},
        timeout=timeout,
    )


def mailbox_name(folder: str) -> str:
    """A folder name as IMAP wants it: modified UTF-7 (RFC 3501 5.1.3), quoted."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in folder:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    name = "".join(out)
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mailbox:
    """One IMAP session on the bounce folder."""

    def __init__(self, url: MailboxURL) -> None:
        self.url = url
        self._imap: imaplib.IMAP4 | None = None
        self.flag = KEYWORD

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def open(self, *, readonly: bool = False) -> int:
        """Connect, log in and select the folder; returns how many messages it holds."""
        url = self.url
        try:
            if url.secure:
                context = ssl.create_default_context()
                if not url.verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    url.host, url.port, ssl_context=context, timeout=url.timeout
                )
            else:
                imap = imaplib.IMAP4(url.host, url.port, timeout=url.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"cannot connect to {url.host}:{url.port}: {exc}") from exc
        self._imap = imap
        try:
            if "AUTH=PLAIN" in imap.capabilities:
                # SASL PLAIN (RFC 4616) carries a UTF-8 password; LOGIN only ASCII.
                secret = f"\0{url.user}\0{url.password}".encode()
                imap.authenticate("PLAIN", lambda _challenge: secret)
            else:
                imap.login(url.user, url.password)
        except (imaplib.IMAP4.error, UnicodeError) as exc:
            raise MailboxError(f"{url.describe()}: login refused") from exc
        except OSError as exc:
            raise MailboxError(f"{url.describe()}: connection lost at login: {exc}") from exc
        status, data = self._call(imap.select, mailbox_name(url.folder), readonly)
        if status != "OK":
            raise MailboxError(f"{url.describe()}: no folder {url.folder!r}")
        flags = b" ".join(x for x in imap.response("PERMANENTFLAGS")[1] if isinstance(x, bytes))
        if not readonly and b"\\*" not in flags and KEYWORD.encode() not in flags:
            self.flag = "\\Seen"  # the server keeps no keywords of ours
        return int(data[0]) if data and data[0] and data[0].isdigit() else 0

    def _call(self, method: object, *args: object) -> tuple[str, list[bytes]]:
        assert callable(method)
        try:
            status, data = method(*args)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"{self.url.describe()}: {exc}") from exc
        return str(status), list(data or [])

    def _uid(self, *args: str) -> list[bytes]:
        assert self._imap is not None
        status, data = self._call(self._imap.uid, *args)
        if status != "OK":
            raise MailboxError(f"{self.url.describe()}: UID {args[0]} refused: {data!r:.200}")
        return data

    def new_messages(self) -> list[int]:
        """The UIDs of the messages not processed yet, oldest first."""
        query = ("NOT", "KEYWORD", KEYWORD) if self.flag == KEYWORD else ("UNSEEN",)
        data = self._uid("SEARCH", *query)
        return sorted(int(n) for n in b" ".join(d for d in data if d).split() if n.isdigit())

    def fetch(self, uids: list[int]) -> Iterator[tuple[int, bytes, int]]:
        """(uid, the first MAX_BYTES of the message, its full size) for each UID."""
        for first in range(0, len(uids), _PER_COMMAND):
            chunk = uids[first : first + _PER_COMMAND]
            data = self._uid(
                "FETCH", ",".join(map(str, chunk)), f"(UID RFC822.SIZE BODY.PEEK[]<0.{MAX_BYTES}>)"
            )
            yield from _fetched(data)

    def mark(self, uids: list[int]) -> None:
        """Flag these messages as processed."""
        for first in range(0, len(uids), _PER_COMMAND):
            chunk = ",".join(map(str, uids[first : first + _PER_COMMAND]))
            self._uid("STORE", chunk, "+FLAGS.SILENT", f"({self.flag})")

    def close(self) -> None:
        """Log out (quietly: the session is over either way)."""
        if self._imap is not None:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                self._imap.logout()
            self._imap = None


def probe(url: str) -> str:
    """Log in and look at the folder without changing anything (for `mailer doctor`)."""
    with Mailbox(parse_mailbox_url(url)) as box:
        count = box.open(readonly=True)
        waiting = len(box.new_messages())
        return f"{box.url.describe()}: logged in; {count} message(s), {waiting} not read yet"


def _fetched(data: Sequence[object]) -> Iterator[tuple[int, bytes, int]]:
    # imaplib gives (b'1 (UID 7 RFC822.SIZE 2048 BODY[]<0> {2048}', literal) and then the
    # items the server put after the literal (b' UID 7)'): both are read for UID and size.
    index = 0
    while index < len(data):
        item = data[index]
        index += 1
        if not isinstance(item, tuple) or len(item) != 2:
            continue
        head, body = item
        following = data[index] if index < len(data) else b""
        tail = following if isinstance(following, bytes) else b""
        uid = size = None
        for found in _FETCHED.finditer((head if isinstance(head, bytes) else b"") + b" " + tail):
            if found.group(1):
                uid = int(found.group(1))
            if found.group(2):
                size = int(found.group(2))
        if uid is not None and isinstance(body, bytes):
            yield uid, body, size if size is not None else len(body)
