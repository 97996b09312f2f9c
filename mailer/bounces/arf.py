"""RFC 5965 abuse reports (ARF), as mailbox providers' feedback loops send them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from mailer.bounces.dsn import address_of
from mailer.bounces.mime import header, header_blocks, headers_of

__all__ = ["COMPLAINTS", "FEEDBACK_REPORT", "Feedback", "read_feedback"]

FEEDBACK_REPORT = "message/feedback-report"
# Feedback types (RFC 5965 7.3 and the IANA registry) that mean "this person does not want
# this mail": the others (auth-failure, not-spam, virus, other) say nothing about the person.
COMPLAINTS = frozenset({"abuse", "fraud"})
_TYPE = re.compile(r"[a-z][a-z0-9-]{0,30}")


@dataclass(frozen=True, slots=True)
class Feedback:
    """The machine-readable part of an ARF report."""

    feedback_type: str
    recipients: tuple[str, ...]  # Original-Rcpt-To, when the provider did not redact it
    user_agent: str = ""
    reported_domain: str = ""


def read_feedback(part: Message) -> Feedback:
    """The fields of a message/feedback-report part."""
    blocks = header_blocks(part)
    fields = blocks[0] if blocks else Message()
    # A report without its required type is recorded, never acted on.
    kind = (header(fields, "Feedback-Type", 40).lower().split() or ["other"])[0]
    recipients = tuple(
        address
        for value in headers_of(fields, "Original-Rcpt-To")
        if (address := address_of(value)) is not None
    )
    return Feedback(
        feedback_type=kind if _TYPE.fullmatch(kind) else "other",
        recipients=recipients[:20],
        user_agent=header(fields, "User-Agent", 120),
        reported_domain=header(fields, "Reported-Domain", 120),
    )
