"""Bounces through real mail systems: Postfix writes the DSNs, Dovecot serves them over IMAP,
`mailer bounces fetch` reads them as an operator runs it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes

import pytest

from tests.bounce_samples import Sent, sample, sent_messages
from tests.conftest import EXAMPLES, Workdir
from tests.mailsystems import DovecotServer, MailRoot, PostfixServer, need_mail_systems
from tests.processes import configure_for, worker_process
from tests.servers import RedisServer, SMTPServer

BOUNCES = "bounces@example.org"
PASSWORD = "pâss wörd/@%?#"  # URL-encoded in MAILER_BOUNCE_MAILBOX, UTF-8 over SASL PLAIN


@pytest.fixture
def root() -> Iterator[MailRoot]:
    need_mail_systems()
    root = MailRoot()
    try:
        yield root
    finally:
        root.remove()


@pytest.fixture
def dovecot(root: MailRoot) -> Iterator[DovecotServer]:
    server = DovecotServer(
        root, user=BOUNCES, password=PASSWORD, home=root.maildir(BOUNCES).parent
    ).start()
    try:
        yield server
    finally:
        server.stop()


def _people(count: int) -> str:
    locales = ["fr", "nl", "de", "en", "fr_BE"]
    rows = [f"p{n:02d}@example.net,P{n},{locales[n % 5]},,true,subscribed" for n in range(count)]
    return "email,name,locale,topics,alerts,status\n" + "\n".join(rows) + "\n"


def _statuses(workdir: Workdir) -> dict[str, str]:
    listed = json.loads(workdir.run("subscribers", "list", "--json").stdout)
    return {s["email"]: s["status"] for s in listed}


def test_postfix_dsns_for_5_unknown_of_30_read_over_imap(
    workdir: Workdir, root: MailRoot, dovecot: DovecotServer
) -> None:
    known = [f"p{n:02d}@example.net" for n in range(25)]
    unknown = [f"p{n:02d}@example.net" for n in range(25, 30)]
    postfix = PostfixServer(
        root, domains=("example.net", "example.org"), mailboxes=[BOUNCES, *known]
    ).start()
    try:
        workdir.env.update(
            {
                "MAILER_TRANSPORT_URL": postfix.url,
                "MAILER_BOUNCE_MAILBOX": dovecot.url(),
                "MAILER_SECRET_KEY": "mail-systems-secret-key-0123456789",
            }
        )
        (workdir.path / "people.csv").write_text(_people(30), encoding="utf-8")
        workdir.run("subscribers", "import", "people.csv", "--consented")
        workdir.run("statements", "import", str(EXAMPLES / "statements"))
        workdir.run("statements", "publish", "nso-export-licence-fr", timeout=240)
        # Postfix delivered 25 and wrote a DSN for each of the 5 others, to its VERP sender.
        dsns = postfix.wait_for_mail(BOUNCES, 5)
        assert len(dsns) == 5
        for path in dsns:
            dsn = message_from_bytes(path.read_bytes())
            assert dsn.get_content_type() == "multipart/report"
            assert str(dsn["Delivered-To"]).startswith("bounces+")
        assert sum(len(root.delivered(a)) for a in known) == 25
    finally:
        postfix.stop()
    first = workdir.run("bounces", "fetch")
    lines = first.stdout.strip().splitlines()
    assert lines[-1] == "read 5 new message(s): 5 bounced", first.stdout
    assert all("bounced: 5.1.1" in line and "matched by verp" in line for line in lines[:-1])
    statuses = _statuses(workdir)
    assert sorted(a for a, s in statuses.items() if s == "bounced") == unknown
    assert all(statuses[a] == "subscribed" for a in known)
    # A second fetch changes nothing.
    second = workdir.run("bounces", "fetch")
    assert second.stdout.strip() == "read 0 new message(s)"
    assert _statuses(workdir) == statuses
    assert dovecot.flagged() == 5
    events = json.loads(workdir.run("bounces", "list", "--json").stdout)
    assert sorted(e["email"] for e in events) == unknown
    assert {(e["kind"], e["status"], e["effect"], e["source"]) for e in events} == {
        ("hard", "5.1.1", "bounced", "mailbox")
    }
    status = json.loads(workdir.run("campaigns", "status", "1", "--json").stdout)
    assert status["bounced"] == 5 and status["sent"] == 30
    assert sum(v["bounced"] for v in status["by_locale"].values()) == 5
    workdir.env["COLUMNS"] = "200"
    table = workdir.run("campaigns", "status", "1").stdout
    assert "bounced" in table and "complained" in table
    shown = json.loads(workdir.run("subscribers", "show", unknown[0], "--json").stdout)
    assert shown["status"] == "bounced" and shown["events"][0]["kind"] == "hard"
    why = workdir.run("subscribers", "why", unknown[0], "--campaign", "1").stdout
    assert "then a hard report 5.1.1" in why


def _outbox(workdir: Workdir) -> dict[str, Sent]:
    messages = []
    for path in workdir.outbox.iterdir():
        data = path.read_bytes()
        head = message_from_bytes(data.split(b"\r\n\r\n", 1)[0])
        envelope = str(head["Return-Path"]).strip("<>")
        messages.append((envelope, str(head["Delivered-To"]), data))
    return sent_messages(messages)


def _big_attachment(sent: Sent) -> bytes:
    # A DSN that returns the whole original message, with a 20 MB attachment in it.
    report = sample("exchange-office365.txt", sent).replace(b"\r\n", b"\n")
    head, _, _ = report.rpartition(b"--_1ab2cd3e-ef45-6789-0abc-def012345678_--")
    blob = b"QUJD" * 19 + b"\n"
    attachment = (
        b"Content-Type: message/rfc822\n\nFrom: alerts@example.org\nMessage-ID: "
        + sent.message_id.encode()
        + b'\nContent-Type: multipart/mixed; boundary="in"\n\n--in\n'
        b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
        + blob * (20_000_000 // len(blob))
        + b"\n--in--\n"
    )
    return head.rpartition(b"Content-Type: message/rfc822")[0] + attachment + b"--_1ab2--\n"


def _nested(depth: int) -> bytes:
    parts = b"".join(
        b'Content-Type: multipart/mixed; boundary="n%d"\n\n--n%d\n' % (i, i) for i in range(depth)
    )
    return b"From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail\n" + parts + b"x\n"


def test_every_kind_of_report_over_imap_and_bad_ones_alone(
    workdir: Workdir, dovecot: DovecotServer
) -> None:
    people = "email,name,locale\n" + "".join(f"q{n}@example.net,Q{n},fr\n" for n in range(8))
    (workdir.path / "people.csv").write_text(people, encoding="utf-8")
    workdir.run("subscribers", "import", "people.csv", "--consented")
    workdir.run("statements", "import", str(EXAMPLES / "statements"))
    workdir.run("statements", "publish", "nso-export-licence-fr", timeout=240)
    sent = _outbox(workdir)
    q = [sent[f"q{n}@example.net"] for n in range(8)]
    reports = [
        sample("dsn-hard-gmail.txt", q[0]),  # bounced
        sample("qmail.txt", q[1]),  # bounced
        sample("arf-abuse-yahoo.txt", q[2]),  # complained
        sample("dsn-soft-mailbox-full.txt", q[3]),  # subscribed, event
        sample("autoreply-fr.txt", q[4]),  # subscribed, event
        sample("dsn-content-5.7.1.txt", q[5]),  # subscribed, event
        sample("dsn-hard-gmail.txt", None, recipient="nobody.here@example.net"),  # unmatched
        sample("hostile-truncated.txt", q[6]),
        _big_attachment(q[7]),  # still read: bounced
        sample("hostile-malformed-mime.txt", None),
        _nested(5000),
        b"Subject: " + b"x" * 3_000_000 + b"\n\nA header of three million characters.\n",
        sample("hostile-control-characters.txt", None, recipient="ghost@example.net"),
        sample("human-reply.txt", None),
    ]
    dovecot.append(reports)
    workdir.env["MAILER_BOUNCE_MAILBOX"] = dovecot.url(query="timeout=60")
    started = time.monotonic()
    result = workdir.run("bounces", "fetch", timeout=180)
    elapsed = time.monotonic() - started
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(reports) + 1, result.stdout  # one line per message, one summary
    assert "\x1b" not in result.stdout and "\x00" not in result.stdout
    assert all(len(line) < 400 for line in lines)
    assert "first 1024 KiB" in lines[8] and "bounced" in lines[8]
    assert "more than 100 MIME parts" in lines[10]
    assert "kept unmatched" in lines[6]
    assert elapsed < 60
    statuses = _statuses(workdir)
    assert [statuses[f"q{n}@example.net"] for n in range(8)] == [
        "bounced",
        "bounced",
        "complained",
        "subscribed",
        "subscribed",
        "subscribed",
        "subscribed",  # a truncated report says nothing clear
        "bounced",
    ]
    events = json.loads(workdir.run("bounces", "list", "--json").stdout)
    kinds = {e["email"]: e["kind"] for e in events if e["email"]}
    assert kinds["q3@example.net"] == "soft" and kinds["q4@example.net"] == "auto-reply"
    assert kinds["q5@example.net"] == "policy"
    unmatched = workdir.run("bounces", "list", "--unmatched", "--json").stdout
    assert "nobody.here@example.net" in unmatched
    workdir.env["COLUMNS"] = "250"
    table = workdir.run("bounces", "list").stdout
    assert "unmatched: nobody.here@example.net" in table
    assert dovecot.flagged() == len(reports)
    assert workdir.run("bounces", "fetch").stdout.strip() == "read 0 new message(s)"


def test_a_fetch_killed_midway_loses_and_doubles_nothing(
    workdir: Workdir, dovecot: DovecotServer
) -> None:
    count = 600
    dovecot.append(
        [
            sample("dsn-hard-gmail.txt", None, recipient=f"gone{n}@example.net").replace(
                b"<5f1b2c3d.sor.1@mx.google.com>", f"<dsn{n}@mx.google.com>".encode()
            )
            for n in range(count)
        ]
    )
    workdir.env["MAILER_BOUNCE_MAILBOX"] = dovecot.url()
    workdir.run("init")
    database = workdir.path / "mailer.db"

    def recorded() -> int:
        with sqlite3.connect(database, timeout=30) as connection:
            return int(connection.execute("SELECT count(*) FROM inbound_reports").fetchone()[0])

    fetch = subprocess.Popen(
        [sys.executable, "-m", "mailer", "bounces", "fetch"],
        cwd=workdir.path,
        env=workdir.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while recorded() < 60 and time.monotonic() < deadline and fetch.poll() is None:
        time.sleep(0.01)
    assert fetch.poll() is None, "the fetch ended before it could be killed"
    os.kill(fetch.pid, signal.SIGKILL)
    fetch.wait(30)
    before, marked = recorded(), dovecot.flagged()
    assert 0 < before < count and marked <= before  # marked only once recorded
    again = workdir.run("bounces", "fetch", timeout=300).stdout.strip().splitlines()[-1]
    new = int(again.split()[1])
    already = int(again.split("; ")[1].split()[0]) if "already read" in again else 0
    assert new == count - before  # nothing lost: every message recorded...
    assert new + already == count - marked  # ...and those recorded but not marked, not twice
    assert recorded() == count and dovecot.flagged() == count
    with sqlite3.connect(database) as connection:
        events = connection.execute("SELECT count(*), count(DISTINCT recipient) FROM bounce_events")
        assert events.fetchone() == (count, count)


def test_imaps_folders_and_doctor(workdir: Workdir, root: MailRoot) -> None:
    server = DovecotServer(
        root, user=BOUNCES, password=PASSWORD, home=root.maildir(BOUNCES).parent, tls=True
    ).start()
    try:
        folder = "Retours à l'expéditeur"  # modified UTF-7 on the wire (RFC 3501 5.1.3)
        server.append([sample("dsn-hard-gmail.txt", None)], folder=folder)
        workdir.run("init")
        # A self-signed certificate is refused unless told otherwise, in one line.
        workdir.env["MAILER_BOUNCE_MAILBOX"] = server.url(folder=folder, secure=True)
        refused = workdir.run("bounces", "fetch", check=False)
        assert refused.returncode == 1 and "certificate" in refused.stderr.lower()
        assert refused.stderr.count("\n") == 1 and PASSWORD not in refused.stderr
        workdir.env["MAILER_BOUNCE_MAILBOX"] = server.url(
            folder=folder, secure=True, query="verify=false"
        )
        doctor = workdir.run("doctor").stdout
        assert "ok   bounce mailbox: imaps://bounces@example.org@127.0.0.1" in doctor
        assert "1 message(s), 1 not read yet" in doctor
        fetched = workdir.run("bounces", "fetch").stdout
        assert "kept unmatched" in fetched and fetched.strip().endswith("1 unmatched")
        # A wrong password, a missing folder, a server that is not there: one FAIL line each.
        for url, words in (
            (
                server.url(folder=folder, secure=True, query="verify=false").replace(
                    "p%C3%A2ss", "x"
                ),
                "login refused",
            ),
            (server.url(folder="Nowhere", secure=True, query="verify=false"), "no folder"),
            ("imap://u:p@127.0.0.1:1/INBOX", "cannot connect"),
        ):
            workdir.env["MAILER_BOUNCE_MAILBOX"] = url
            checked = workdir.run("doctor", check=False)
            failing = [line for line in checked.stdout.splitlines() if line.startswith("FAIL")]
            assert checked.returncode == 1 and len(failing) == 1 and words in failing[0], (
                checked.stdout
            )
            assert "bounce mailbox" in failing[0] and PASSWORD not in checked.stdout
        workdir.env["MAILER_BOUNCE_MAILBOX"] = "pop3://nope"
        bad = workdir.run("bounces", "fetch", check=False)
        assert bad.returncode == 2 and "MAILER_BOUNCE_MAILBOX" in bad.stderr
    finally:
        server.stop()


@pytest.mark.redis
def test_beat_reads_the_mailbox_every_tick(
    workdir: Workdir, dovecot: DovecotServer, redis_server: RedisServer, smtp_server: SMTPServer
) -> None:
    configure_for(workdir, redis_server, smtp_server, db=9)
    workdir.env.update({"MAILER_BOUNCE_MAILBOX": dovecot.url(), "MAILER_TICK_SECONDS": "1"})
    workdir.run("init")
    dovecot.append([sample("dsn-hard-gmail.txt", None, recipient="first@example.net")])
    with worker_process(workdir, concurrency=1, beat=True):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and dovecot.flagged() < 1:
            time.sleep(0.2)
        dovecot.append([sample("arf-not-ours.txt", None, recipient="second@example.net")])
        while time.monotonic() < deadline and dovecot.flagged() < 2:
            time.sleep(0.2)
    events = json.loads(workdir.run("bounces", "list", "--json").stdout)
    assert [e["recipient"] for e in events] == ["second@example.net", "first@example.net"]
