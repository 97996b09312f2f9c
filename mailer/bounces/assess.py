"""The one pure classifier of reports: each recipient of a report becomes a `Finding` whose
kind says what mailer does about it. Delivery reports go through the same verdict with
blame as SMTP replies (`mailer.transport.classify.judge`, at `Stage.REPORT`):

- permanent, the recipient's fault (5.1.x, 5.2.1, 5.1.10 ...): HARD (bounced, suppressed);
- temporary and the recipient's (4.x.x, mailbox full) or `Action: delayed`: SOFT (counted);
- permanent, the message's or the sender's fault (5.7.x spam, blocklist, DMARC; 5.6.x):
  POLICY (recorded against the campaign, the person untouched);
- `Action: delivered | relayed | expanded`: DELIVERED (resets the soft-bounce count);
- anything the report does not say clearly: OTHER (recorded, nothing done).

An ARF report of type abuse or fraud is a COMPLAINT (complained, unsubscribed and
suppressed); auth-failure and virus reports are POLICY; not-spam and other are OTHER. An
automatic reply is AUTO_REPLY: it proves the message reached the mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mailer.bounces.arf import COMPLAINTS
from mailer.bounces.dsn import Recipient
from mailer.bounces.read import Form, Report
from mailer.transport.classify import Blame, Outcome, Reply, Stage, judge

__all__ = ["Finding", "Kind", "assess"]


class Kind(Enum):
    """What a report means for one recipient."""

    HARD = "hard"
    SOFT = "soft"
    POLICY = "policy"
    COMPLAINT = "complaint"
    AUTO_REPLY = "auto-reply"
    DELIVERED = "delivered"
    UNSUBSCRIBE = "unsubscribe"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Finding:
    """One recipient's kind of event, with what the report said."""

    kind: Kind
    address: str | None
    status: str | None = None
    code: int | None = None
    diagnostic: str = ""
    reason: str = ""
    blame: str | None = None


_SUCCESS = frozenset({"delivered", "relayed", "expanded"})
_POLICY_FEEDBACK = frozenset({"auth-failure", "virus", "dkim", "spf"})


def _delivery(recipient: Recipient) -> Finding:
    def finding(kind: Kind, reason: str, blame: Blame | None = None) -> Finding:
        return Finding(
            kind,
            recipient.address or recipient.original,
            recipient.status,
            recipient.code,
            recipient.diagnostic,
            reason,
            blame.value if blame is not None else None,
        )

    if recipient.action in _SUCCESS:
        return finding(Kind.DELIVERED, f"{recipient.action} (the report says so)")
    verdict = judge(
        Reply(Stage.REPORT, recipient.code, recipient.diagnostic, enhanced=recipient.status)
    )
    if recipient.action == "delayed":
        # Still being retried by a relay: a soft bounce, whatever the reason for the delay.
        return finding(Kind.SOFT, f"delivery delayed: {verdict.reason}", Blame.RECIPIENT)
    if verdict.outcome is Outcome.PERMANENT and verdict.blame is Blame.RECIPIENT:
        return finding(Kind.HARD, verdict.reason, verdict.blame)
    if verdict.outcome is Outcome.TEMPORARY and verdict.blame is Blame.RECIPIENT:
        return finding(Kind.SOFT, verdict.reason, verdict.blame)
    if verdict.outcome is Outcome.PERMANENT:
        return finding(Kind.POLICY, verdict.reason, verdict.blame)
    if recipient.status is None and recipient.code is None:
        return finding(Kind.OTHER, "the report gives no status")
    return finding(Kind.OTHER, verdict.reason, verdict.blame)


def assess(report: Report) -> tuple[Finding, ...]:
    """What each recipient of the report comes to (nothing for a message that is not one)."""
    if report.form in (Form.DSN, Form.BOUNCE):
        return tuple(_delivery(r) for r in report.recipients)
    if report.form is Form.ARF:
        kind_of = report.feedback_type or "other"
        if kind_of in COMPLAINTS:
            kind, reason = Kind.COMPLAINT, f"the person reported it ({kind_of})"
        elif kind_of in _POLICY_FEEDBACK:
            kind, reason = Kind.POLICY, f"a {kind_of} report about the message"
        else:
            kind, reason = Kind.OTHER, f"a {kind_of} report"
        return tuple(
            Finding(kind, r.address, diagnostic=report.note, reason=reason)
            for r in report.recipients
        )
    if report.form is Form.AUTO_REPLY:
        return tuple(
            Finding(Kind.AUTO_REPLY, r.address, reason=report.note) for r in report.recipients
        )
    if report.form is Form.UNSUBSCRIBE:
        return (Finding(Kind.UNSUBSCRIBE, None, reason="mailto: unsubscribe"),)
    return ()
