"""One pure function decides what an SMTP reply means for the delivery: sent, retry, or give up."""

from __future__ import annotations

import re
from enum import Enum

__all__ = ["Outcome", "classify"]


class Outcome(Enum):
    """What the ledger does with a reply."""

    SENT = "sent"
    TEMPORARY = "temporary"
    THROTTLED = "throttled"
    PERMANENT = "permanent"


_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
_THROTTLE_WORDS = re.compile(
    r"throttl|rate limit|too many|try again later|slow down", re.IGNORECASE
)


def classify(code: int | None, message: str = "") -> Outcome:
    """Classify an SMTP reply (RFC 5321 section 4.2.1, RFC 3463 enhanced codes).

    - 2yz: accepted, the message is ours no more: SENT.
    - 421 (service closing), 451 with enhanced 4.7.x, 454, or a 4yz that says it is
      throttling: the server wants us slower, not the recipient gone: THROTTLED.
    - any other 4yz: transient by definition (RFC 5321 4.2.1): TEMPORARY.
    - 552 (mailbox full / storage exceeded): RFC 5321 4.5.3.1.10 says clients should
      treat it as temporary, since many servers use it for over-quota: TEMPORARY.
    - any other 5yz: permanent; retrying cannot help and harms reputation: PERMANENT.
    - no code (timeout, dropped connection, refused connection): TEMPORARY.
    """
    if code is None:
        return Outcome.TEMPORARY
    if 200 <= code < 300:
        return Outcome.SENT
    enhanced = _ENHANCED.match(message or "")
    if 400 <= code < 500:
        if code in (421, 454):
            return Outcome.THROTTLED
        if code == 451 and enhanced and enhanced.group(2) == "7":
            return Outcome.THROTTLED
        if _THROTTLE_WORDS.search(message or ""):
            return Outcome.THROTTLED
        return Outcome.TEMPORARY
    if code == 552:
        return Outcome.TEMPORARY
    if 500 <= code < 600:
        return Outcome.PERMANENT
    # 1yz and 3yz are not final replies to DATA; treat anything odd as worth a retry.
    return Outcome.TEMPORARY
