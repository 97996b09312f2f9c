"""One pure function says what a reply means and whose fault it is: the verdict with blame.

A reply is a value: the stage it answered (connect, MAIL, RCPT, DATA, or a delivery report
that came back after the relay accepted the message), the basic code, the enhanced status
and the text. `judge` turns it into a `Verdict`: what happened (sent, temporary, throttled,
permanent) and who is to blame (nobody, the recipient, the message, the sender or relay).

Only a permanent verdict that blames the recipient may bounce and suppress a subscriber.
The reasoning, from RFC 5321 (basic codes) and RFC 3463 (enhanced status codes, with the
later registrations of RFC 5248, 7372 and 7505):

- 2yz: accepted; the message is the next hop's now (SENT).
- 4yz: transient by definition (RFC 5321 4.2.1). 421 (service closing), 454, 451 4.7.x
  and any 4yz that says it is throttling ask us to slow down, not to give the recipient
  up (THROTTLED); every other 4yz is TEMPORARY. Nobody is blamed, except that a soft
  bounce in a report (4.x.x, or mailbox full) is counted against the recipient.
- 552 at RCPT, or with 5.2.2 (mailbox full): RFC 5321 4.5.3.1.10 asks clients to treat
  it as temporary, since servers use it for over-quota: TEMPORARY (a soft bounce).
- 5yz at connect, after AUTH (530, 534, 535, 538) or at MAIL FROM: the server refuses us,
  whoever the recipient is: PERMANENT, blame the SENDER (the campaign pauses; nobody is
  suppressed). So are X.7.8/X.7.9/X.7.14 (authentication), X.7.20 to X.7.26 and X.7.27
  (SPF, DKIM, DMARC, the sender's null MX), X.1.7/X.1.8 (the sender's address) and a
  refusal to relay (5.7.1 "relay access denied", 550 "relaying denied") at any stage.
- X.1.x (bad mailbox, bad domain, no such user, moved, null MX), X.2.0/X.2.1 (mailbox
  disabled), X.4.4 (no route to the domain: it does not exist), X.7.13 (account
  disabled), X.7.17/X.7.18 (the mailbox's or domain's owner changed): the RECIPIENT.
- X.6.x (content, media, conversion), X.7.x other than the above (spam, policy, a
  blocklisted sending IP at RCPT or DATA), X.2.3 and X.3.4 (too big): the MESSAGE: this
  row fails, the subscriber is untouched. A blocklist rejection says nothing about the
  person, so it must never suppress them.
- A 5yz with no enhanced status at RCPT ("550 No such user here"), or whose words say the
  mailbox does not exist ("user unknown", at any stage after MAIL): the RECIPIENT.
- Any other 5yz (X.0.0, X.3.x, X.5.x, no status at DATA or in a report): the MESSAGE: we
  fail the row and keep the person, the safe side of a reply we cannot read. One odd
  server never pauses a campaign nor suppresses anyone.
- No code at all (time-out, dropped or refused connection): TEMPORARY, nobody's fault.
- BUILD (no server said anything: this message could not be built, or its address cannot
  travel on this relay, such as a UTF-8 local part without SMTPUTF8, RFC 6531): PERMANENT,
  the MESSAGE: the row fails with the reason, the subscriber is untouched, the rest goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["Blame", "Outcome", "Reply", "Stage", "Verdict", "enhanced_status", "judge"]


class Stage(Enum):
    """Which step of the conversation a reply answered."""

    CONNECT = "connect"  # the greeting, EHLO, STARTTLS, AUTH: before any message
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # DATA itself or the reply after the final dot
    REPORT = "report"  # a delivery status notification received after acceptance
    BUILD = "build"  # nothing was sent: the message could not be built or addressed here


class Outcome(Enum):
    """What happened to the message."""

    SENT = "sent"
    TEMPORARY = "temporary"
    THROTTLED = "throttled"
    PERMANENT = "permanent"


class Blame(Enum):
    """Whose fault a failure is, which decides what is done about it."""

    NOBODY = "nobody"
    RECIPIENT = "recipient"  # the address: bounce and suppress (when permanent)
    MESSAGE = "message"  # this message: fail the row, keep the subscriber
    SENDER = "sender"  # our sender, credentials or relay: pause the campaign


@dataclass(frozen=True, slots=True)
class Reply:
    """What a server said, and when: a value, never an exception."""

    stage: Stage
    code: int | None
    text: str = ""
    enhanced: str | None = None  # "5.1.1"; read from the text when not given

    def status(self) -> str | None:
        """The enhanced status code, given or found at the start of the text."""
        return self.enhanced or enhanced_status(self.text)

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip() if self.code is not None else self.text


@dataclass(frozen=True, slots=True)
class Verdict:
    """The meaning of a reply: what happened, whose fault, and a short reason."""

    outcome: Outcome
    blame: Blame
    reason: str

    @property
    def bounces(self) -> bool:
        """True when the recipient's address is dead: bounce and suppress."""
        return self.outcome is Outcome.PERMANENT and self.blame is Blame.RECIPIENT


_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_THROTTLE = re.compile(
    r"throttl|rate.?limit|too many (?:messages|connections|recipients|mails)|try again later"
    r"|slow down|exceeded .*(?:rate|limit)",
    re.IGNORECASE,
)
_RELAY = re.compile(
    r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)"
    r"|not (?:permitted|allowed) to relay|unable to relay|rcpthosts",
    re.IGNORECASE,
)
_NO_SUCH = re.compile(
    r"user unknown|unknown (?:user|recipient|mailbox)|no such (?:user|mailbox|recipient|address)"
    r"|mailbox (?:unavailable|not found|does not exist|disabled)|does not exist"
    r"|invalid (?:recipient|mailbox)|not a valid (?:recipient|mailbox)|account (?:is |has been )?disabled",
    re.IGNORECASE,
)
_AUTH_CODES = frozenset({530, 534, 535, 538})
# Enhanced statuses that are the sender's (or our relay account's) problem.
_SENDER = frozenset(
    {"1.7", "1.8", "7.8", "7.9", "7.14", "7.27"} | {f"7.{n}" for n in range(20, 27)}
)
# Enhanced statuses that say the recipient's address is dead.
_RECIPIENT = frozenset({"2.0", "2.1", "4.4", "7.13", "7.17", "7.18"})
_TOO_BIG = frozenset({"2.3", "3.4"})


def enhanced_status(text: str) -> str | None:
    """The first RFC 3463 status code in a reply text ("5.1.1"), or None."""
    match = _ENHANCED.search(text[:200]) if text else None
    return ".".join(match.groups()) if match else None


def judge(reply: Reply) -> Verdict:
    """The verdict on one reply (see the module docstring for the reasoning)."""
    code, stage, text = reply.code, reply.stage, reply.text or ""
    if stage is Stage.BUILD:
        return Verdict(Outcome.PERMANENT, Blame.MESSAGE, text or "the message could not be built")
    status = reply.status()
    if code is None and status is not None and stage is Stage.REPORT:
        code = {"2": 250, "4": 450, "5": 550}[status[0]]  # a report's Status: alone
    if code is None:
        return Verdict(Outcome.TEMPORARY, Blame.NOBODY, "no answer (time-out or lost connection)")
    if 200 <= code < 300:
        return Verdict(Outcome.SENT, Blame.NOBODY, "accepted")
    detail = status[2:] if status and status[0] == str(code)[0] else None
    if 400 <= code < 500:
        return _transient(code, stage, text, detail)
    if not 500 <= code < 600:
        # 1yz and 3yz are not final replies; anything odd is worth another try.
        return Verdict(Outcome.TEMPORARY, Blame.NOBODY, f"unexpected reply {code}")
    if detail == "2.2" or (code == 552 and stage is Stage.RCPT and detail is None):
        return Verdict(Outcome.TEMPORARY, Blame.RECIPIENT, "mailbox full")
    return _permanent(code, stage, text, detail)


def _transient(code: int, stage: Stage, text: str, detail: str | None) -> Verdict:
    if stage is not Stage.REPORT and (
        code in (421, 454) or (code == 451 and detail is not None and detail.startswith("7."))
    ):
        return Verdict(Outcome.THROTTLED, Blame.NOBODY, "the server asks us to slow down")
    if stage is not Stage.REPORT and _THROTTLE.search(text):
        return Verdict(Outcome.THROTTLED, Blame.NOBODY, "the server asks us to slow down")
    if stage is Stage.REPORT:
        # A delayed or soft-bounced delivery: counted against the address, never fatal alone.
        return Verdict(Outcome.TEMPORARY, Blame.RECIPIENT, "soft bounce")
    return Verdict(Outcome.TEMPORARY, Blame.NOBODY, "temporary failure")


def _permanent(code: int, stage: Stage, text: str, detail: str | None) -> Verdict:
    def verdict(blame: Blame, reason: str) -> Verdict:
        return Verdict(Outcome.PERMANENT, blame, reason)

    if stage in (Stage.CONNECT, Stage.MAIL) or code in _AUTH_CODES or detail in _SENDER:
        return verdict(Blame.SENDER, "the server refuses our sender or credentials")
    if _RELAY.search(text):
        return verdict(Blame.SENDER, "the relay refuses to relay for us")
    if detail in _TOO_BIG:
        return verdict(Blame.MESSAGE, "the message is too big")
    if detail is not None and (detail.startswith("1.") or detail in _RECIPIENT):
        return verdict(Blame.RECIPIENT, "the address does not exist or is disabled")
    if detail is not None and detail.startswith(("6.", "7.")):
        return verdict(Blame.MESSAGE, "refused for its content or by policy")
    # No enhanced status, or a vague one (X.0.0, X.3.x, X.5.x): the stage and the words.
    if _NO_SUCH.search(text) or (stage is Stage.RCPT and detail is None):
        return verdict(Blame.RECIPIENT, "the recipient was refused")
    return verdict(Blame.MESSAGE, "refused")
