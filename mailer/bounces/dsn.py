"""RFC 3464 delivery status notifications (and RFC 6533's UTF-8 form), read with the
standard library: one `Recipient` per per-recipient block, and the returned headers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import HeaderParser

from mailer.bounces.mime import clean, header, header_blocks, parts

__all__ = [
    "DELIVERY_STATUS",
    "RETURNED",
    "Recipient",
    "Returned",
    "address_of",
    "read_delivery_status",
    "read_returned",
    "returned_from",
]

DELIVERY_STATUS = frozenset({"message/delivery-status", "message/global-delivery-status"})
# Where a report carries the message it is about (RFC 3462, 5965, 6533).
RETURNED = frozenset(
    {"message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"}
)
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"^\s*([2-5]\d\d)(?:[ -]|$)(.*)$", re.DOTALL)
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"]{1,64}@[^\s<>()\[\],;:\"]{1,255}")
_MAX_RECIPIENTS = 100


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a report says about one recipient."""

    address: str | None  # Final-Recipient (the address that failed), lower-cased
    original: str | None = None  # Original-Recipient: the address we sent to, when given
    action: str = "failed"  # failed, delayed, delivered, relayed, expanded
    status: str | None = None  # RFC 3463 "5.1.1"
    code: int | None = None  # the SMTP reply code of Diagnostic-Code: smtp; ...
    diagnostic: str = ""


@dataclass(frozen=True, slots=True)
class Returned:
    """What a report shows of the message it is about."""

    message_id: str | None = None
    campaign: int | None = None  # X-Mailer-Campaign
    return_path: str = ""
    to: str | None = None


def address_of(value: str) -> str | None:
    """The address in a field like `rfc822; <a@b.example>` or a header `Name <a@b>`."""
    value = value.rpartition(";")[2] if ";" in value else value
    match = _ADDRESS.search(value[:1000])
    return match.group(0).strip(".").lower() if match else None


def _diagnostic(value: str) -> tuple[int | None, str]:
    # "smtp; 550-5.1.1 first line 550-5.1.1 second 550 5.1.1 last": the code once, the text
    # without the code repeated on each continuation line (RFC 5321 4.2.1 multi-line replies).
    _kind, separator, rest = value.partition(";")
    text = " ".join((rest if separator else value).split())
    reply = _REPLY.match(text)
    if reply is None:
        return None, clean(text)
    code = int(reply.group(1))
    body = re.sub(rf"(?:^|\s){code}[ -](?=\S)", " ", reply.group(2))
    return code, clean(body)


def read_delivery_status(part: Message) -> list[Recipient]:
    """Each per-recipient block of a message/delivery-status part (the first block is the
    per-message one and names no recipient)."""
    found: list[Recipient] = []
    for block in header_blocks(part):
        final = header(block, "Final-Recipient", 400)
        original = header(block, "Original-Recipient", 400) or header(
            block, "X-Actual-Recipient", 400
        )
        action = header(block, "Action", 60).lower().split(" ")[0] if block.get("Action") else ""
        if not final and not original and not action:
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        status_match = _STATUS.match(header(block, "Status", 60))
        code, text = _diagnostic(header(block, "Diagnostic-Code", 1000))
        found.append(
            Recipient(
                address=address_of(final) if final else None,
                original=address_of(original) if original else None,
                action=action or "failed",
                status=".".join(status_match.groups()) if status_match else None,
                code=code,
                diagnostic=text,
            )
        )
        if len(found) >= _MAX_RECIPIENTS:
            break
    return found


def read_returned(report: Message) -> Returned:
    """The Message-ID, campaign, Return-Path and To of the message a report returns."""
    for _depth, part in parts(report):
        if part.get_content_type() not in RETURNED or part is report:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            original = payload[0]
        elif isinstance(payload, str):
            original = HeaderParser(policy=policy.compat32).parsestr(payload[:65536])
        else:
            continue
        return returned_from(original)
    return Returned()


def returned_from(original: Message) -> Returned:
    """Those fields from the original message's headers."""
    message_id = header(original, "Message-ID", 250)
    campaign = header(original, "X-Mailer-Campaign", 20)
    to = header(original, "To", 400)
    return Returned(
        message_id=message_id or None,
        campaign=int(campaign) if campaign.isdigit() and len(campaign) < 12 else None,
        return_path=header(original, "Return-Path", 400),
        to=address_of(to) if to else None,
    )
