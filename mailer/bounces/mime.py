"""Hostile mail, read safely: bounded size, bounded nesting, header values cut before decoding.

The standard library's `email` package with the compat32 policy parses in linear time
(the modern policy's header parser is quadratic on long folded headers) and leaves header
values as strings; only the few values mailer looks at are decoded (RFC 2047), each cut
first. Parsing that recurses too deep (nested multiparts) falls back to the headers alone.
Every string that leaves this module is cleaned: no control characters (a terminal or a log
must not receive ESC or NUL), no bidirectional overrides, whitespace collapsed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser, HeaderParser

__all__ = [
    "MAX_BYTES",
    "Mail",
    "clean",
    "header",
    "header_blocks",
    "headers_of",
    "parse_mail",
    "parts",
    "text_of",
]

MAX_BYTES = 1 << 20  # a report's first MiB: the status and the returned headers come first
MAX_DEPTH = 12
# A report has a handful of parts (notification, status, the returned message and its
# alternatives); parsing a thousand of them, or a thousand levels deep, costs seconds.
MAX_PARTS = 100
_CONTENT_TYPE = re.compile(rb"^content-type:", re.IGNORECASE | re.MULTILINE)
_HEADER_CHARS = 2000
_TEXT_BYTES = 256 * 1024
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]"
)


@dataclass
class Mail:
    """A parsed message and what was wrong with it."""

    message: Message
    problems: list[str] = field(default_factory=list)


def parse_mail(raw: bytes, *, size: int | None = None) -> Mail:
    """Parse at most MAX_BYTES; `size` is the whole message's size when only a part was read."""
    problems: list[str] = []
    if len(raw) > MAX_BYTES or (size is not None and size > len(raw)):
        raw = raw[:MAX_BYTES]
        problems.append(f"only its first {MAX_BYTES // 1024} KiB were read")
    for declared, _ in enumerate(_CONTENT_TYPE.finditer(raw), start=1):
        if declared > MAX_PARTS:
            problems.append(f"more than {MAX_PARTS} MIME parts: only its headers were read")
            return Mail(BytesHeaderParser(policy=policy.compat32).parsebytes(raw), problems)
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
    except RecursionError:
        message = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        problems.append("MIME nesting too deep: only its headers were read")
    return Mail(message, problems)


def clean(text: str, limit: int = 500) -> str:
    """Printable, one line, at most `limit` characters."""
    text = text[: limit * 4]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # 8-bit bytes the parser kept as surrogates: back to bytes, read as UTF-8.
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    return " ".join(_UNSAFE.sub(" ", text).split())[:limit]


def _raw(message: Message, name: str) -> list[str]:
    # Values as received: the policy would turn 8-bit bytes into U+FFFD (UTF-8 headers,
    # RFC 6532, included); `clean` reads them as UTF-8 instead.
    wanted = name.lower()
    return [str(v) for k, v in message.raw_items() if k.lower() == wanted]


def header(message: Message, name: str, limit: int = 300) -> str:
    """One header's value (the first), RFC 2047 words decoded, cleaned ("" when absent)."""
    values = _raw(message, name)
    if not values:
        return ""
    text = clean(values[0][:_HEADER_CHARS], _HEADER_CHARS)
    if "=?" in text:
        # An unknown charset or a broken encoded-word: the raw form is kept.
        with contextlib.suppress(LookupError, ValueError, UnicodeError, AssertionError):
            text = str(make_header(decode_header(text)))
    return clean(text, limit)


def headers_of(message: Message, *names: str, limit: int = 300) -> list[str]:
    """Every value of the named headers, in order, cleaned."""
    values: list[str] = []
    for name in names:
        for value in _raw(message, name)[:20]:
            values.append(clean(value[:_HEADER_CHARS], limit))
    return values


def parts(message: Message) -> Iterator[tuple[int, Message]]:
    """Every part with its depth, breadth first, at most MAX_PARTS, none deeper than MAX_DEPTH."""
    queue: list[tuple[int, Message]] = [(0, message)]
    seen = 0
    while queue and seen < MAX_PARTS:
        depth, part = queue.pop(0)
        seen += 1
        yield depth, part
        payload = part.get_payload()
        if depth < MAX_DEPTH and isinstance(payload, list):
            queue.extend((depth + 1, child) for child in payload if isinstance(child, Message))


def text_of(part: Message, limit: int = _TEXT_BYTES) -> str:
    """A leaf part's text, transfer encoding and charset decoded, cut at `limit` bytes."""
    if part.is_multipart():
        return ""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # broken base64 or quoted-printable
        data = None
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload[:limit] if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data[:limit].decode(charset, "replace")
    except LookupError:
        return data[:limit].decode("utf-8", "replace")


def header_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part,
    whether the parser split them (list payload) or kept the text (string payload)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [p for p in payload if isinstance(p, Message)]
        if len(blocks) == 1 and not blocks[0].keys() and isinstance(blocks[0].get_payload(), str):
            payload = blocks[0].get_payload()  # the parser took the blocks for a body
        else:
            return blocks[:101]
    if not isinstance(payload, str):
        return []
    text = text_of(part) if part.get("Content-Transfer-Encoding") else payload[:_TEXT_BYTES]
    parser = HeaderParser(policy=policy.compat32)
    chunks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [parser.parsestr(chunk.strip("\r\n") + "\n") for chunk in chunks[:101] if chunk.strip()]
