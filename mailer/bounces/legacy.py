"""Bounces that are not RFC 3464 (qmail's QSBMF, Exim's X-Failed-Recipients, old Sendmail,
Exchange and the like), read by Mailman's `flufl.bounce`; the reply it quotes is then
found next to each address it names, so that one verdict function judges them all."""

from __future__ import annotations

import logging
import re
from email.message import Message

from flufl.bounce import all_failures

from mailer.bounces.dsn import Recipient
from mailer.bounces.mime import clean, header, parts, text_of

__all__ = ["looks_like_a_bounce", "read_legacy_bounce"]

log = logging.getLogger("mailer.bounces")
_DAEMON = re.compile(
    r"mailer-daemon|mail-daemon|postmaster|mail delivery (?:subsystem|system)|mailerdaemon",
    re.IGNORECASE,
)
_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status|failure|failed|notification|problem|report)"
    r"|returned mail|failure notice|mail delivery failed|could not be delivered|non remis"
    r"|non distribu|unzustellbar|nicht zustellbar|onbestelbaar|niet bezorgd|niet afgeleverd",
    re.IGNORECASE,
)
_CODE = re.compile(r"(?<![\d.#])([245]\d\d)(?:[ -]|$)")
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_TEXT_LIMIT = 64 * 1024  # the explanation is at the start; a returned attachment is not read
_CONTEXT_LINES = 6


def looks_like_a_bounce(message: Message) -> bool:
    """True when the sender, the envelope or the subject says a mail system wrote this."""
    if message.get("X-Failed-Recipients") is not None:
        return True
    if header(message, "Return-Path", 100).strip() == "<>":
        return True
    if _DAEMON.search(header(message, "From", 200) + " " + header(message, "Sender", 200)):
        return True
    return bool(_SUBJECT.search(header(message, "Subject", 200)))


def _texts(message: Message) -> str:
    # The human-readable parts, each cut: what the MTA wrote, not the returned message's body.
    pieces: list[str] = []
    budget = _TEXT_LIMIT
    for _depth, part in parts(message):
        if budget <= 0:
            break
        if part.get_content_maintype() == "text" and part.get_content_subtype() in ("plain", ""):
            text = text_of(part, budget)
            pieces.append(text)
            budget -= len(text)
    return "\n".join(pieces)


def _context(text: str, address: str) -> str:
    """The lines from a mention of the address to the next blank line: the first mention
    that quotes a reply code or status, else the first."""
    lowered = text.lower()
    first = ""
    at = lowered.find(address)
    for _ in range(10):
        if at < 0:
            break
        lines = text[at:].splitlines()[:_CONTEXT_LINES]
        kept: list[str] = []
        for index, line in enumerate(lines):
            if index and not line.strip():
                break
            kept.append(line.strip())
        context = clean(" ".join(kept), 500)
        if _CODE.search(context) or _STATUS.search(context):
            return context
        first = first or context
        at = lowered.find(address, at + len(address))
    return first


def _reply(context: str, permanent: bool) -> tuple[int | None, str | None]:
    code = _CODE.search(context)
    status = _STATUS.search(context)
    found_status = ".".join(status.groups()) if status else None
    if code is not None:
        return int(code.group(1)), found_status
    if found_status is not None:
        return None, found_status
    # The detector knew the kind of failure but the text quotes no reply: a bare 5yz or
    # 4yz, which the verdict reads with the words alone (and, for 5yz without words that
    # name the mailbox, keeps the person: the safe side).
    return (550 if permanent else 450), None


def read_legacy_bounce(message: Message) -> list[Recipient] | None:
    """The failed recipients of a non-standard bounce, or None when flufl.bounce finds none."""
    try:
        temporary, permanent = all_failures(message)
    except Exception as exc:  # a detector tripped on a malformed message
        log.info("flufl.bounce could not read a message: %s", type(exc).__name__)
        return None
    if not temporary and not permanent:
        return None
    text = _texts(message)
    found: list[Recipient] = []
    for raw, is_permanent in [(a, True) for a in sorted(permanent)] + [
        (a, False) for a in sorted(temporary - permanent)
    ]:
        address = raw.decode("ascii", "replace").strip().strip("<>").lower()
        if "@" not in address or len(address) > 320:
            continue
        context = _context(text, address)
        code, status = _reply(context, is_permanent)
        found.append(
            Recipient(
                address=clean(address, 320),
                action="failed" if is_permanent else "delayed",
                status=status,
                code=code,
                diagnostic=context,
            )
        )
    return found[:100] or None
