"""The verdict with blame: one table of real-world replies and what each must mean."""

from __future__ import annotations

import pytest

from mailer.transport.classify import Blame, Outcome, Reply, Stage, judge

S, T, X, P = Outcome.SENT, Outcome.TEMPORARY, Outcome.THROTTLED, Outcome.PERMANENT
NOBODY, RCPT_, MSG, SENDER = Blame.NOBODY, Blame.RECIPIENT, Blame.MESSAGE, Blame.SENDER

CASES = [
    # stage, code, text, outcome, blame
    (Stage.DATA, 250, "2.0.0 Ok: queued as 4F2A", S, NOBODY),
    (Stage.RCPT, 251, "User not local; will forward", S, NOBODY),
    # Temporary and throttling (RFC 5321 4.2.1): nobody's fault, never a bounce.
    (Stage.RCPT, 450, "4.2.0 <a@b>: Recipient address rejected: Greylisted", T, NOBODY),
    (Stage.DATA, 451, "4.3.0 Error: queue file write error", T, NOBODY),
    (Stage.CONNECT, 421, "4.3.2 Service not available, closing channel", X, NOBODY),
    (Stage.MAIL, 451, "4.7.1 Please try again later", X, NOBODY),
    (Stage.RCPT, 450, "4.7.0 rate limit exceeded for this sender", X, NOBODY),
    (Stage.RCPT, 452, "4.5.3 Too many recipients", X, NOBODY),
    (Stage.CONNECT, None, "timed out", T, NOBODY),
    # Mailbox full: temporary (RFC 5321 4.5.3.1.10), counted against the address.
    (Stage.RCPT, 552, "Requested mail action aborted: exceeded storage allocation", T, RCPT_),
    (Stage.DATA, 552, "5.2.2 Mailbox full", T, RCPT_),
    # The recipient: only these may suppress.
    (
        Stage.RCPT,
        550,
        "5.1.1 <nobody@example.org>: Recipient address rejected: User unknown",
        P,
        RCPT_,
    ),
    (Stage.RCPT, 550, "No such user here", P, RCPT_),
    (Stage.RCPT, 553, "5.1.3 Bad recipient address syntax", P, RCPT_),
    (Stage.RCPT, 556, "5.1.10 Recipient address has null MX", P, RCPT_),
    (Stage.RCPT, 550, "5.2.1 The email account that you tried to reach is disabled", P, RCPT_),
    (Stage.DATA, 550, "5.1.1 user unknown", P, RCPT_),
    (Stage.REPORT, None, "", T, NOBODY),  # nothing to read: never a bounce
    (Stage.REPORT, 550, "5.4.4 Host or domain name not found", P, RCPT_),
    (Stage.RCPT, 550, "5.0.0 <x@y>: User unknown in virtual mailbox table", P, RCPT_),
    # The message: the row fails, the person stays.
    (Stage.DATA, 554, "5.7.1 Message rejected as spam", P, MSG),
    (Stage.DATA, 550, "5.6.0 Lone CR or LF in headers", P, MSG),
    (Stage.DATA, 552, "5.3.4 Message size exceeds fixed limit", P, MSG),
    (
        Stage.RCPT,
        554,
        "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        P,
        MSG,
    ),
    (Stage.DATA, 554, "Transaction failed", P, MSG),
    (Stage.RCPT, 550, "5.5.1 Protocol error", P, MSG),
    # Nothing was sent: the message could not be built or addressed on this relay.
    (Stage.BUILD, None, "the recipient address has a non-ASCII local part (no SMTPUTF8)", P, MSG),
    (Stage.BUILD, None, "cannot build the message: ValueError: a template bug", P, MSG),
    # The sender or relay: pause, suppress nobody.
    (
        Stage.MAIL,
        550,
        "5.7.1 <news@example.org>: Sender address rejected: Access denied",
        P,
        SENDER,
    ),
    (Stage.MAIL, 553, "5.1.8 Domain of sender address does not exist", P, SENDER),
    (Stage.MAIL, 550, "No such user here", P, SENDER),  # at MAIL FROM it is about us
    (Stage.CONNECT, 554, "No SMTP service here", P, SENDER),
    (Stage.CONNECT, 535, "5.7.8 Authentication credentials invalid", P, SENDER),
    (Stage.RCPT, 530, "5.7.0 Authentication required", P, SENDER),
    (Stage.RCPT, 554, "5.7.1 <a@b>: Relay access denied", P, SENDER),
    (Stage.RCPT, 550, "relaying denied", P, SENDER),
    (Stage.RCPT, 553, "sorry, that domain isn't in my list of allowed rcpthosts", P, SENDER),
    (Stage.DATA, 550, "5.7.26 Unauthenticated email is not accepted (DMARC)", P, SENDER),
    (Stage.RCPT, 550, "5.1.7 Bad sender's mailbox address syntax", P, SENDER),
]


@pytest.mark.parametrize(("stage", "code", "text", "outcome", "blame"), CASES)
def test_each_reply_gets_its_verdict(
    stage: Stage, code: int | None, text: str, outcome: Outcome, blame: Blame
) -> None:
    verdict = judge(Reply(stage, code, text))
    assert (verdict.outcome, verdict.blame) == (outcome, blame), verdict.reason


def test_only_a_permanent_recipient_verdict_bounces() -> None:
    bouncing = [c for c in CASES if judge(Reply(c[0], c[1], c[2])).bounces]
    assert bouncing and all(c[3] is P and c[4] is RCPT_ for c in bouncing)
    assert len(bouncing) == sum(1 for c in CASES if c[3] is P and c[4] is RCPT_)


def test_a_report_status_alone_is_read() -> None:
    # A DSN's Status field without a Diagnostic-Code reply.
    assert judge(Reply(Stage.REPORT, None, "", enhanced="5.1.1")).bounces
    soft = judge(Reply(Stage.REPORT, None, "", enhanced="4.4.7"))
    assert (soft.outcome, soft.blame) == (T, RCPT_)
    assert judge(Reply(Stage.REPORT, None, "", enhanced="5.7.1")).blame is MSG


def test_a_given_status_wins_over_the_text() -> None:
    verdict = judge(Reply(Stage.REPORT, 550, "mailbox unavailable", enhanced="5.7.1"))
    assert verdict.blame is MSG
