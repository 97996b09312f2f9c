"""Compose the message bytes: headers once per variant, personal headers and bodies per recipient.

Pure: no I/O. The result is RFC 5322 with CRLF line ends; `build_data` gives it as SMTP DATA
sends it, dot-stuffed from parts stuffed once per variant.
"""

from __future__ import annotations

import binascii
import dataclasses
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate

from mailer.render.personalise import Compiled
from mailer.render.variant import RenderedEmail
from mailer.transport.address import ascii_address
from mailer.transport.wire import DATA_END, dot_stuffed

__all__ = ["MessageTemplate", "Recipient", "build_template"]

CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class Recipient:
    """What differs per recipient: address, name, and the signed links."""

    email: str
    name: str
    message_id: str
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""
    preferences_url: str = ""
    view_url: str = ""
    confirm_url: str = ""


# C0 controls, DEL and C1 controls: never copied into a header (NUL, ESC, a bare CR or LF
# would end it or inject another: RFC 5322 2.2 allows none of them).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_WORD = 70  # an ASCII word longer than this cannot be folded at a space: it is encoded


def clean(value: str) -> str:
    """A header value without control characters (each run becomes one space)."""
    return _CONTROLS.sub(" ", value).strip()


def _encode(value: str, name: str) -> str:
    """A header value that is valid whatever its length: plain ASCII folded at spaces to 78
    columns (RFC 5322 2.1.1, 2.2.3), else RFC 2047 encoded-words, which may break anywhere."""
    value = clean(value)
    words = value.split(" ")
    if value.isascii() and "=?" not in value and all(len(w) <= _WORD for w in words):
        lines: list[str] = []
        line = ""
        for word in words:
            room = 76 - (len(name) + 2 if not lines else 0)  # "Name: " on the first line
            if line and len(line) + 1 + len(word) > room:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
        return "\r\n ".join(lines)
    return Header(value, "utf-8", maxlinelen=76, header_name=name).encode(linesep="\r\n")


_date_cache: tuple[int, str] = (0, "")


def _now_header() -> str:
    # RFC 5322 dates have a one-second resolution: format each second once.
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, formatdate(second, usegmt=True))
    return _date_cache[1]


def _phrase_address(name: str, address: str) -> str:
    """`Name <address>`: an IDN domain as its A-label (valid on any relay); a UTF-8 local part
    as UTF-8, which only travels with SMTPUTF8 (RFC 6532)."""
    address = ascii_address(address) or address
    name = clean(name)
    if not name:
        return address
    if address.isascii():
        return formataddr((name, address), charset="utf-8")
    return f"{formataddr((name, 'x@x'), charset='utf-8')[: -len('<x@x>')]}<{address}>"


def _qp(text: str) -> bytes:
    # Quoted-printable keeps the text part readable and every line under 76 characters.
    if (
        # A short printable ASCII value with nothing to escape (most links and greetings)
        # encodes to itself: b2a_qp escapes "=", controls, non-ASCII, trailing blanks and a
        # lone "." line, and breaks lines at 76.
        len(text) <= 70
        and text.isascii()
        and text.isprintable()
        and "=" not in text
        and text[-1:] != " "
        and text != "."
    ):
        return text.encode("ascii")
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", CRLF)


SOFT_BREAK = b"=" + CRLF  # a quoted-printable soft line break decodes to nothing (RFC 2045 6.7)
_QP_LINE = 76  # RFC 2045 6.7 (5): encoded lines are at most 76 characters, "=" included


def _cut(line: bytes, limit: int) -> list[bytes]:
    """An encoded line cut by soft breaks into lines of at most `limit` characters (never
    inside an "=XX" escape)."""
    pieces = []
    while len(line) > limit:
        cut = _QP_LINE - 1
        if line[cut - 1 : cut] == b"=":
            cut -= 1
        elif line[cut - 2 : cut - 1] == b"=":
            cut -= 2
        pieces.append(line[:cut] + b"=")
        line = line[cut:]
    pieces.append(line)
    return pieces


def _soft_closed(encoded: bytes) -> bytes:
    """Encoded text closed by a soft line break, every line at most 76 characters with it.

    binascii.b2a_qp can end a line at 78 (a trailing space encoded as "=20" after its length
    check), and the closing "=" adds one to a last line of 76: those lines are cut again."""
    lines = encoded.split(CRLF)
    if max(map(len, lines)) < _QP_LINE:
        return encoded + SOFT_BREAK
    out = [piece for line in lines[:-1] for piece in _cut(line, _QP_LINE)]
    out.extend(_cut(lines[-1], _QP_LINE - 1))
    return CRLF.join(out) + SOFT_BREAK


def _qp_segments(compiled: Compiled) -> tuple[bytes, ...]:
    """The constant parts of a variant, quoted-printable encoded once, each closed by a soft
    line break, so that a recipient's values are encoded alone and slotted in between."""
    return tuple(_soft_closed(_qp(part)) for part in compiled.parts)


def _fill_qp(
    segments: tuple[bytes, ...],
    compiled: Compiled,
    values: dict[str, str],
    finish: Callable[[bytes], bytes] = bytes,
) -> bytes:
    out = [segments[0]]
    for field, segment in zip(compiled.fields, segments[1:], strict=True):
        out.append(finish(_soft_closed(_qp(compiled.escape(values[field])))))
        out.append(segment)
    return b"".join(out)


@dataclass(frozen=True, slots=True)
class _Stuffed:
    """A template's constant pieces, dot-stuffed once."""

    head: bytes
    text_head: bytes
    html_head: bytes
    closing: bytes
    text_segments: tuple[bytes, ...]
    html_segments: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """The parts of a message that are the same for every recipient of a variant."""

    variant: RenderedEmail
    envelope_from: str
    head: bytes
    text_head: bytes
    html_head: bytes
    closing: bytes
    list_headers: bool = True
    text_segments: tuple[bytes, ...] = ()
    html_segments: tuple[bytes, ...] = ()
    # The constant pieces dot-stuffed for SMTP DATA, made once with the template.
    stuffed: _Stuffed = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stuffed", _stuff_template(self))

    def build(self, recipient: Recipient, *, date: str | None = None) -> bytes:
        """The full message for one recipient."""
        fields = self._fields(recipient)
        return b"".join(
            (
                self._personal(recipient, date),
                self.head,
                self.text_head,
                _fill_qp(self.text_segments, self.variant.text, fields),
                self.html_head,
                _fill_qp(self.html_segments, self.variant.html, fields),
                self.closing,
            )
        )

    def build_data(self, recipient: Recipient, *, date: str | None = None) -> bytes:
        """`build`'s message as SMTP DATA sends it: dot-stuffed and ended by the final dot.

        Every piece of a message begins a line (each ends with a line break), so stuffing
        each piece alone stuffs the whole: the constant ones once per variant, only the
        short personal ones per recipient."""
        stuffed = self.stuffed
        fields = self._fields(recipient)
        return b"".join(
            (
                dot_stuffed(self._personal(recipient, date)),
                stuffed.head,
                stuffed.text_head,
                _fill_qp(stuffed.text_segments, self.variant.text, fields, dot_stuffed),
                stuffed.html_head,
                _fill_qp(stuffed.html_segments, self.variant.html, fields, dot_stuffed),
                stuffed.closing,
                DATA_END,
            )
        )

    def _fields(self, recipient: Recipient) -> dict[str, str]:
        return {
            "greeting": self.variant.greeting(recipient.name),
            "unsubscribe_url": recipient.unsubscribe_url,
            "preferences_url": recipient.preferences_url,
            "view_url": recipient.view_url,
            "confirm_url": recipient.confirm_url,
        }

    def _personal(self, recipient: Recipient, date: str | None) -> bytes:
        lines = [
            f"To: {_phrase_address(recipient.name, recipient.email)}",
            f"Date: {date or _now_header()}",
            f"Message-ID: {recipient.message_id}",
        ]
        if self.list_headers:
            # RFC 2369 List-Unsubscribe, with the RFC 8058 one-click HTTPS URI first; kept on
            # one line (RFC 5322 allows 998) so mail clients read the URI whole.
            lines.append(
                f"List-Unsubscribe: <{recipient.unsubscribe_url}>, <{recipient.unsubscribe_mailto}>"
            )
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _stuff_template(template: MessageTemplate) -> _Stuffed:
    return _Stuffed(
        head=dot_stuffed(template.head),
        text_head=dot_stuffed(template.text_head),
        html_head=dot_stuffed(template.html_head),
        closing=dot_stuffed(template.closing),
        text_segments=tuple(dot_stuffed(s) for s in template.text_segments),
        html_segments=tuple(dot_stuffed(s) for s in template.html_segments),
    )


def build_template(
    variant: RenderedEmail,
    *,
    sender_name: str,
    sender_address: str,
    envelope_from: str,
    list_name: str,
    list_id: str,
    campaign_id: int,
    reply_to: str | None = None,
    list_headers: bool = True,
) -> MessageTemplate:
    """Encode everything constant for a variant once."""
    # "=_" never occurs in quoted-printable output, so this boundary cannot clash with a body.
    boundary = f"=_mailer_{secrets.token_hex(12)}"
    head_lines = [
        f"From: {_phrase_address(sender_name, sender_address)}",
        f"Subject: {_encode(variant.subject, 'Subject')}",
        f"List-Id: {_encode(list_name, 'List-Id')} <{list_id}>",  # RFC 2919
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",  # RFC 8058
        f"Content-Language: {variant.lang}",  # RFC 3282
        f"X-Mailer-Campaign: {campaign_id}",
        # Gmail's feedback loop groups complaints by these fields; the last is the sender id.
        f"Feedback-ID: {campaign_id}:{variant.kind}:{list_id}:mailer",
        "Auto-Submitted: auto-generated",  # RFC 3834: no vacation auto-replies
        "Precedence: bulk",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    if reply_to:
        head_lines.insert(1, f"Reply-To: {clean(reply_to)}")
    if not list_headers:
        # A transactional message (a confirmation): no list headers, no bulk marking.
        head_lines = [
            h
            for h in head_lines
            if not h.startswith(("List-Id:", "List-Unsubscribe-Post:", "Precedence:"))
        ]
    part = (
        "\r\n--{b}\r\nContent-Type: {t}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
        "Content-Language: {lang}\r\n\r\n"
    )
    return MessageTemplate(
        variant=variant,
        envelope_from=envelope_from,
        head=(
            "\r\n".join(head_lines) + "\r\n\r\nThis is a multipart message in MIME format.\r\n"
        ).encode("utf-8"),
        text_head=part.format(b=boundary, t="text/plain", lang=variant.lang).encode("ascii"),
        html_head=part.format(b=boundary, t="text/html", lang=variant.lang).encode("ascii"),
        closing=f"\r\n--{boundary}--\r\n".encode("ascii"),
        list_headers=list_headers,
        text_segments=_qp_segments(variant.text),
        html_segments=_qp_segments(variant.html),
    )
