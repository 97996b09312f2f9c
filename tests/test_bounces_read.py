"""Reading reports is pure: every sample and every hostile input, without a database."""

from __future__ import annotations

import time

import pytest

from mailer.bounces.assess import Kind, assess
from mailer.bounces.read import Form, read_report
from mailer.bounces.verp import TOKEN_LENGTH, Verp, find_delivery_token
from tests.bounce_samples import Sent, sample

SENT = Sent(
    "bounces+" + Verp("k").token(7, 42) + "@example.org",
    "ghost@example.net",
    "<7.0123456789abcdef01234567@example.org>",
    7,
)
LANGUAGES = ("fr", "nl", "de", "en", "ar")

TABLE = [
    # sample, form, kind, status
    ("dsn-hard-gmail.txt", Form.DSN, Kind.HARD, "5.1.1"),
    ("exchange-office365.txt", Form.DSN, Kind.HARD, "5.1.10"),
    ("dsn-soft-mailbox-full.txt", Form.DSN, Kind.SOFT, "5.2.2"),
    ("dsn-delayed.txt", Form.DSN, Kind.SOFT, "4.4.1"),
    ("dsn-content-5.7.1.txt", Form.DSN, Kind.POLICY, "5.7.1"),
    ("dsn-blocklist.txt", Form.DSN, Kind.POLICY, "5.7.1"),
    ("dsn-dmarc.txt", Form.DSN, Kind.POLICY, "5.7.26"),
    ("qmail.txt", Form.BOUNCE, Kind.HARD, "5.1.1"),
    ("qmail-remote.txt", Form.BOUNCE, Kind.HARD, "5.1.1"),
    ("exim.txt", Form.BOUNCE, Kind.HARD, "5.1.1"),
    ("sendmail-old.txt", Form.BOUNCE, Kind.HARD, "5.1.1"),
    ("exchange-2003.txt", Form.BOUNCE, Kind.HARD, "5.1.1"),
    ("arf-abuse-yahoo.txt", Form.ARF, Kind.COMPLAINT, None),
    ("arf-abuse-redacted.txt", Form.ARF, Kind.COMPLAINT, None),
    ("autoreply-fr.txt", Form.AUTO_REPLY, Kind.AUTO_REPLY, None),
    ("autoreply-de.txt", Form.AUTO_REPLY, Kind.AUTO_REPLY, None),
    ("autoreply-nl.txt", Form.AUTO_REPLY, Kind.AUTO_REPLY, None),
    ("autoreply-en-precedence.txt", Form.AUTO_REPLY, Kind.AUTO_REPLY, None),
    ("autoreply-ar.txt", Form.AUTO_REPLY, Kind.AUTO_REPLY, None),
    ("dsn-delivered.txt", Form.DSN, Kind.DELIVERED, "2.0.0"),
    ("hostile-truncated.txt", Form.DSN, Kind.OTHER, None),
    ("hostile-control-characters.txt", Form.DSN, Kind.HARD, "5.1.1"),
]


@pytest.mark.parametrize(("name", "form", "kind", "status"), TABLE)
def test_each_sample_reads_as_what_it_is(
    name: str, form: Form, kind: Kind, status: str | None
) -> None:
    report = read_report(sample(name, SENT), languages=LANGUAGES)
    findings = assess(report)
    assert report.form is form
    assert [(f.kind, f.status) for f in findings] == [(kind, status)]
    if form is not Form.ARF:
        assert findings[0].address == "ghost@example.net"
    assert find_delivery_token("k", report.envelope) == (7, 42)


def test_the_returned_message_is_found() -> None:
    for name in ("dsn-hard-gmail.txt", "exchange-office365.txt", "arf-abuse-yahoo.txt"):
        returned = read_report(sample(name, SENT)).returned
        assert (returned.message_id, returned.campaign) == (SENT.message_id, 7), name
    # An ARF report keeps the original's Return-Path, where a feedback loop keeps the VERP.
    arf = read_report(sample("arf-abuse-redacted.txt", SENT))
    assert find_delivery_token("k", arf.envelope) == (7, 42)


def test_auto_replies_in_the_profiles_languages_only_by_subject() -> None:
    raw = b"From: a@example.net\r\nSubject: Abwesenheitsnotiz: Alert\r\n\r\nweg\r\n"
    assert read_report(raw, languages=("de",)).form is Form.AUTO_REPLY
    assert read_report(raw, languages=("fr",)).form is Form.OTHER
    english = b"From: a@example.net\r\nSubject: Out of Office: Alert\r\n\r\naway\r\n"
    assert read_report(english, languages=("fr",)).form is Form.AUTO_REPLY  # always English
    # A bounce marked Auto-Submitted (as Postfix and Exim mark theirs) is still a bounce.
    assert read_report(sample("exim.txt", SENT)).form is Form.BOUNCE


def test_a_person_writing_back_is_not_a_report() -> None:
    report = read_report(sample("human-reply.txt", SENT), languages=LANGUAGES)
    assert report.form is Form.OTHER and assess(report) == ()


def test_control_characters_never_leave_the_reader() -> None:
    findings = assess(read_report(sample("hostile-control-characters.txt", SENT)))
    text = findings[0].diagnostic
    assert all(ch.isprintable() for ch in text) and "\u202e" not in text
    assert "user" in text and "unknown" in text


def _timed(raw: bytes) -> tuple[float, Form, tuple[str, ...]]:
    started = time.perf_counter()
    report = read_report(raw, languages=LANGUAGES)
    assess(report)
    return time.perf_counter() - started, report.form, report.problems


@pytest.mark.parametrize(
    "name",
    ["folded", "long", "many headers", "nested", "nested rfc822", "many parts", "attachment"],
)
def test_hostile_input_is_read_in_bounded_time(name: str) -> None:
    dsn = sample("dsn-hard-gmail.txt", SENT)
    raw = {
        # Folded headers: quadratic in the modern policy of the email package.
        "folded": b"From: MAILER-DAEMON@x\r\nSubject: " + b"\r\n a" * 300_000 + b"\r\n\r\nx",
        "long": b"Subject: " + b"x" * 5_000_000 + b"\r\n\r\nx",
        "many headers": b"".join(b"X-H%d: v\r\n" % i for i in range(80_000)) + b"\r\nx",
        "nested": b"Subject: Undelivered\r\n"
        + b"".join(
            b'Content-Type: multipart/mixed; boundary="%d"\r\n\r\n--%d\r\n' % (i, i)
            for i in range(5000)
        ),
        "nested rfc822": b"Subject: Undelivered\r\n"
        + b"Content-Type: message/rfc822\r\n\r\n" * 20_000,
        "many parts": b'Subject: Undelivered\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n'
        + b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 40_000,
        "attachment": dsn + b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n" * 600_000,
    }[name]
    elapsed, form, problems = _timed(raw)
    assert elapsed < 3.0, (name, elapsed)
    if name == "attachment":
        assert form is Form.DSN and "only its first 1024 KiB were read" in problems
    if name.startswith(("nested", "many parts")):
        assert any("MIME parts" in p or "nesting" in p for p in problems)


def test_verp_tokens() -> None:
    verp = Verp("a secret")
    for campaign, subscriber in ((0, 1), (1, 2), (123456, 987654321), (2**40 - 1, 2**40 - 1)):
        token = verp.token(campaign, subscriber)
        assert len(token) == TOKEN_LENGTH and token.isalnum() and token == token.lower()
        assert verp.read(token) == (campaign, subscriber)
        assert verp.read(token.upper()) == (campaign, subscriber)  # MTAs that fold case
        assert Verp("another secret").read(token) is None
        for index in range(TOKEN_LENGTH):  # any one character changed: not ours
            other = "b" if token[index] != "b" else "c"
            assert verp.read(token[:index] + other + token[index + 1 :]) is None
    with pytest.raises(ValueError):
        verp.token(2**40, 1)
    assert verp.read("") is None and verp.read("!" * TOKEN_LENGTH) is None


def test_verp_tokens_keep_their_form() -> None:
    # A bounce comes back days after its message left: tokens made by an earlier release
    # must read the same (these were made before the Feistel rounds worked on integers).
    verp = Verp("k" * 32)
    known = {
        (0, 1): "ah74v2q4noyy3wqht7jckthrmm",
        (12, 34567): "xwjunaazcga6vaob6n5bg4p27m",
        (2**40 - 1, 2**40 - 1): "3xx2sbxjodcnk5olzu7yy2sgw4",
    }
    for ids, token in known.items():
        assert verp.token(*ids) == token
        assert verp.read(token) == ids
