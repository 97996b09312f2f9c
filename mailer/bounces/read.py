"""Read any message that reaches the bounce address into a `Report`: pure, no database.

What it is, tried in this order: an RFC 3464 delivery status notification, an RFC 5965
abuse report, a `mailto:` unsubscribe (a signed token in the subject), a non-standard
bounce (flufl.bounce, only for mail that a mail system sent), an automatic reply
(RFC 3834), or nothing mailer acts on. Bounces are tried before auto-replies because
MTAs mark their bounces `Auto-Submitted: auto-replied` too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from enum import Enum

from mailer.bounces.arf import FEEDBACK_REPORT, read_feedback
from mailer.bounces.autoreply import auto_reply_reason
from mailer.bounces.dsn import (
    DELIVERY_STATUS,
    Recipient,
    Returned,
    address_of,
    read_delivery_status,
    read_returned,
)
from mailer.bounces.legacy import looks_like_a_bounce, read_legacy_bounce
from mailer.bounces.mime import header, headers_of, parse_mail, parts

__all__ = ["ENVELOPE_HEADERS", "Form", "Report", "read_report"]

# Where the address a report was sent to (the VERP envelope sender of our message) shows.
ENVELOPE_HEADERS = (
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
    "X-Delivered-To",
    "X-Rcpt-To",
    "To",
)
LEGACY_BYTES = 64 * 1024
_UNSUBSCRIBE = re.compile(r"unsubscribe\s+([A-Za-z0-9_.\-]{1,200})", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")


class Form(Enum):
    """What kind of message it is."""

    DSN = "delivery status notification"
    ARF = "abuse report"
    BOUNCE = "non-standard bounce"
    UNSUBSCRIBE = "mailto: unsubscribe"
    AUTO_REPLY = "auto-reply"
    OTHER = "not a report"


@dataclass(frozen=True, slots=True)
class Report:
    """What a message says, and what it says it is about."""

    form: Form
    recipients: tuple[Recipient, ...] = ()
    returned: Returned = field(default_factory=Returned)
    envelope: tuple[str, ...] = ()  # the addresses it was sent to: VERP tokens are there
    references: tuple[str, ...] = ()  # Message-IDs it answers (auto-replies)
    feedback_type: str | None = None
    token: str | None = None  # a mailto: unsubscribe's signed token
    note: str = ""
    problems: tuple[str, ...] = ()


def read_report(
    raw: bytes,
    *,
    languages: Iterable[str] = (),
    size: int | None = None,
    recipient: str | None = None,
) -> Report:
    """Read one message (`size`: its full size when only its start was read; `recipient`:
    the envelope recipient, when the MTA passes it)."""
    mail = parse_mail(raw, size=size)
    message = mail.message
    envelope = tuple(headers_of(message, *ENVELOPE_HEADERS)) + ((recipient,) if recipient else ())
    status_part = feedback_part = None
    for _depth, part in parts(message):
        kind = part.get_content_type()
        if status_part is None and kind in DELIVERY_STATUS:
            status_part = part
        elif feedback_part is None and kind == FEEDBACK_REPORT:
            feedback_part = part
    if status_part is not None:
        found = read_delivery_status(status_part)
        if found:
            return Report(
                Form.DSN,
                tuple(found),
                read_returned(message),
                envelope=envelope,
                problems=tuple(mail.problems),
            )
        mail.problems.append("its delivery-status part names no recipient")
    problems = tuple(mail.problems)
    if feedback_part is not None:
        return _abuse_report(message, feedback_part, envelope, problems)
    token = _UNSUBSCRIBE.search(header(message, "Subject", 400))
    if token is not None:
        return Report(Form.UNSUBSCRIBE, token=token.group(1), envelope=envelope, problems=problems)
    bounce_like = looks_like_a_bounce(message)
    legacy = read_legacy_bounce(_start_of(raw, message)) if bounce_like else None
    if legacy:
        return Report(
            Form.BOUNCE,
            tuple(legacy),
            read_returned(message),
            envelope=envelope,
            problems=problems,
        )
    reason = auto_reply_reason(message, languages)
    if reason is not None:
        answered = header(message, "In-Reply-To", 1000) + " " + header(message, "References", 2000)
        return Report(
            Form.AUTO_REPLY,
            (Recipient(address=address_of(header(message, "From", 400)), action="auto-reply"),),
            envelope=envelope,
            references=tuple(_MESSAGE_ID.findall(answered))[:20],
            note=reason,
            problems=problems,
        )
    note = "a mail system's message that names no recipient" if bounce_like else ""
    return Report(Form.OTHER, envelope=envelope, note=note, problems=problems)


def _start_of(raw: bytes, message: Message) -> Message:
    """The message as far as a non-standard bounce explains itself: its first LEGACY_BYTES.
    The heuristics (each detector reads every line) cost seconds on a MiB of attachment."""
    if len(raw) <= LEGACY_BYTES:
        return message
    return parse_mail(raw[:LEGACY_BYTES]).message


def _abuse_report(
    message: Message, part: Message, envelope: tuple[str, ...], problems: tuple[str, ...]
) -> Report:
    feedback = read_feedback(part)
    returned = read_returned(message)
    addresses = feedback.recipients or ((returned.to,) if returned.to else (None,))
    return Report(
        Form.ARF,
        tuple(Recipient(address=a, action=feedback.feedback_type) for a in addresses),
        returned,
        # Feedback loops send to a fixed address; the original's Return-Path keeps its VERP.
        envelope=(*envelope, returned.return_path),
        feedback_type=feedback.feedback_type,
        note=feedback.user_agent,
        problems=problems,
    )
