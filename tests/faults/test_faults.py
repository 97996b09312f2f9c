"""Fault injection: killed workers, a restarted Redis, a misbehaving SMTP server, pause/resume/cancel.

Real Redis, real `mailer worker` processes (with beat for the sweep), a real aiosmtpd server,
on the default settings (leases, sweep, batch size, connections). Every scenario is bounded
in size and time and stops by itself.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailer.config import SMTP_CONNECTIONS
from tests.conftest import EXAMPLES, Workdir
from tests.processes import kill_a_pool_process, wait_for_state, worker_process
from tests.servers import RedisServer, SMTPServer

pytestmark = pytest.mark.redis


def _setup(workdir: Workdir, redis_url: str, smtp: SMTPServer, people: int) -> list[str]:
    workdir.env.update(
        {
            "MAILER_BROKER_URL": redis_url,
            "MAILER_TRANSPORT_URL": smtp.url,
            "MAILER_SECRET_KEY": "fault-tests-secret-key-0123456789abcdef",
        }
    )
    addresses = [f"p{i:05d}@example.org" for i in range(people)]
    csv = workdir.path / "people.csv"
    csv.write_text("email,locale\n" + "".join(f"{a},en\n" for a in addresses), encoding="utf-8")
    workdir.run("subscribers", "import", str(csv), "--consented")
    workdir.run("statements", "import", str(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    return addresses


def _status(workdir: Workdir, campaign: int = 1) -> dict[str, Any]:
    return json.loads(workdir.run("campaigns", "status", str(campaign), "--json").stdout)  # type: ignore[no-any-return]


def _where_rows_ended(workdir: Workdir, status: dict[str, Any], addresses: set[str]) -> str:
    """A failed assertion's account: the campaign's status and each address's `why`."""
    lines = [json.dumps(status)]
    for address in sorted(addresses):
        lines.append(workdir.run("subscribers", "why", address, "--campaign", "1").stdout)
    return "\n".join(lines)


def _wait(
    workdir: Workdir, predicate: Any, timeout: float = 120, campaign: int = 1
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(workdir, campaign)
        if predicate(status):
            return status
        time.sleep(0.25)  # a command each time: leave the workers the CPU
    raise AssertionError(f"timed out; last status {status}")


def _received(smtp: SMTPServer) -> Counter[str]:
    return Counter(str(r.message()["Message-ID"]) for r in list(smtp.handler.received))


def _recipients(smtp: SMTPServer) -> set[str]:
    return {r.rcpt_tos[0] for r in list(smtp.handler.received)}


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_killed_workers_lose_nothing_and_duplicate_at_most_once_per_connection(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer
) -> None:
    addresses = _setup(workdir, f"redis://127.0.0.1:{redis_server.port}/5", smtp_server, 3000)
    smtp_server.handler.delay = 0.02  # a relay 20 ms away: many messages in flight at once
    kills = 0
    with worker_process(workdir, concurrency=2, beat=True) as worker:
        workdir.run("statements", "publish", "nso-export-licence-en", "--no-wait")
        for threshold in (300, 1000, 1700):
            smtp_server.wait_for(threshold, timeout=90)
            kill_a_pool_process(worker, sending_to=smtp_server.port)
            kills += 1
        restarted = time.monotonic()
        status = wait_for_state(workdir, 1, {"done"}, timeout=150)
        # The goal of issue #15: done within two minutes of the last kill, on default leases.
        assert time.monotonic() - restarted <= 120
    assert status["sent"] == len(addresses) and status["failed"] == 0
    assert _recipients(smtp_server) == set(addresses)
    assert smtp_server.handler.most_in_data > SMTP_CONNECTIONS  # both processes, many each
    duplicates = sum(n - 1 for n in _received(smtp_server).values())
    # Each kill costs at most the messages in flight on that process's connections.
    assert duplicates <= kills * SMTP_CONNECTIONS


def test_redis_restarted_mid_campaign_loses_nothing(
    workdir: Workdir, own_redis: RedisServer, smtp_server: SMTPServer
) -> None:
    addresses = _setup(workdir, own_redis.url, smtp_server, 800)
    smtp_server.handler.delay = 0.005
    with worker_process(workdir, concurrency=2, beat=True):
        workdir.run("statements", "publish", "nso-export-licence-en", "--no-wait")
        smtp_server.wait_for(100, timeout=60)
        own_redis.kill()  # every queued batch is gone with it (it keeps nothing on disk)
        time.sleep(2)
        own_redis.start()
        status = wait_for_state(workdir, 1, {"done"}, timeout=150)
    assert status["sent"] == len(addresses)
    assert _recipients(smtp_server) == set(addresses)


def test_smtp_faults_are_retried_or_suppressed(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer
) -> None:
    addresses = _setup(workdir, f"redis://127.0.0.1:{redis_server.port}/6", smtp_server, 600)
    index = {a: i for i, a in enumerate(addresses)}
    refused = {a for a in addresses if index[a] % 100 == 7}  # 1 %: 550, for good
    greylisted = {a for a in addresses if index[a] % 10 == 3}  # 10 %: 451 the first time
    dropped = {a for a in addresses if index[a] % 100 == 42}  # 1 %: the line drops the first time

    def fault(envelope: Any) -> str | None:
        rcpt = envelope.rcpt_tos[0]
        first = smtp_server.handler.attempts[rcpt] == 1
        if rcpt in refused:
            return "550 5.1.1 no such user"
        if rcpt in greylisted and first:
            return "451 4.3.0 greylisted, try again later"
        if rcpt in dropped and first:
            return "DROP"
        return None

    smtp_server.handler.fault = fault
    with worker_process(workdir, concurrency=2, beat=True):
        workdir.run("statements", "publish", "nso-export-licence-en", "--no-wait")
        status = wait_for_state(workdir, 1, {"done"}, timeout=150)
    assert status["failed"] == len(refused)
    assert status["sent"] == len(addresses) - len(refused)
    received = _recipients(smtp_server)
    assert received == set(addresses) - refused
    assert greylisted <= received and dropped <= received
    for address in refused:
        assert smtp_server.handler.attempts[address] == 1  # never retried
    for address in sorted(refused)[:2]:
        why = workdir.run("subscribers", "why", address, "--campaign", "1").stdout
        assert "550 5.1.1 no such user" in why
        shown = json.loads(workdir.run("subscribers", "show", address, "--json").stdout)
        assert shown["status"] == "bounced"


def test_pause_resume_and_cancel_reconcile(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    addresses = _setup(workdir, f"redis://127.0.0.1:{redis_server.port}/7", smtp_server, 1200)
    smtp_server.handler.delay = 0.008
    with worker_process(workdir, concurrency=2, beat=True):
        workdir.run("statements", "publish", "nso-export-licence-en", "--no-wait")
        smtp_server.wait_for(100, timeout=60)
        workdir.run("campaigns", "pause", "1")
        time.sleep(1.5)  # workers notice within one batch
        paused_at = len(smtp_server.handler.received)
        time.sleep(3)
        assert len(smtp_server.handler.received) == paused_at
        assert _status(workdir)["state"] == "paused"
        workdir.run("campaigns", "resume", "1")
        status = wait_for_state(workdir, 1, {"done"}, timeout=150)
        assert status["sent"] == len(addresses)
        # A second campaign, cancelled part-way: nothing pending, everything accounted for.
        workdir.run("send", "nso-export-licence-en", "--again")  # the same people again
        smtp_server.wait_for(len(addresses) + 100, timeout=60)
        # The relay slows down while the cancel is given: on a loaded machine the other
        # 1,100 messages could all be sent before the command lands (nothing to cancel).
        smtp_server.handler.delay = 1.0
        workdir.run("campaigns", "cancel", "2")
        smtp_server.handler.delay = 0.008
        status = _wait(workdir, lambda s: s["pending"] == 0, timeout=60, campaign=2)
    time.sleep(1)
    status = _status(workdir, 2)
    assert status["state"] == "cancelled" and status["cancelled"] > 0
    assert (
        status["sent"] + status["failed"] + status["skipped"] + status["cancelled"]
        == status["total"]
    )
    assert status["sent"] == len(smtp_server.handler.received) - len(addresses)


def test_a_relay_refusing_our_sender_pauses_the_campaign_and_suppresses_nobody(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer
) -> None:
    # After a credentials or SPF change: every MAIL FROM refused (issue #15: 328 of 400 people
    # were suppressed for good before the error brake paused the campaign).
    addresses = _setup(workdir, f"redis://127.0.0.1:{redis_server.port}/8", smtp_server, 400)
    refusing = [True]
    smtp_server.handler.refuse_mail = lambda sender: (
        "550 5.7.1 <bounces@example.org>: Sender address rejected: Access denied"
        if refusing[0]
        else None
    )
    with worker_process(workdir, concurrency=2, beat=True):
        workdir.run("statements", "publish", "nso-export-licence-en", "--no-wait")
        status = wait_for_state(workdir, 1, {"paused"}, timeout=60)
        assert "Sender address rejected" in status["reason"] and "MAIL FROM" in status["reason"]
        table = workdir.run("campaigns", "status", "1").stdout
        assert "Sender address rejected" in table
        time.sleep(2)
        status = _status(workdir)
        assert status["sent"] == 0 and status["failed"] == 0
        assert status["pending"] == len(addresses)
        people = json.loads(workdir.run("subscribers", "list", "--json").stdout)
        assert {p["status"] for p in people} == {"subscribed"}  # nobody suppressed
        why = workdir.run("subscribers", "why", addresses[0], "--campaign", "1").stdout
        assert "0 attempt(s)" in why  # no attempt was spent
        refusing[0] = False  # the operator fixes the relay account
        workdir.run("campaigns", "resume", "1")
        status = wait_for_state(workdir, 1, {"done"}, timeout=120)
    assert status["sent"] == len(addresses)
    assert _recipients(smtp_server) == set(addresses)


def test_a_content_refusal_fails_the_row_and_only_unknown_users_are_suppressed(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer
) -> None:
    addresses = _setup(workdir, f"redis://127.0.0.1:{redis_server.port}/9", smtp_server, 300)
    spam = set(addresses[10:40])  # 554 5.7.1 at DATA: this message, not these people
    unknown = set(addresses[100:105])  # 550 5.1.1 at RCPT: the only ones to suppress
    smtp_server.handler.refuse_rcpt = lambda a: (
        f"550 5.1.1 <{a}>: Recipient address rejected: User unknown" if a in unknown else None
    )
    smtp_server.handler.fault = lambda e: (
        "554 5.7.1 Message rejected as spam" if e.rcpt_tos[0] in spam else None
    )
    with worker_process(workdir, concurrency=2, beat=True):
        workdir.run("statements", "publish", "nso-export-licence-en", "--no-wait")
        status = wait_for_state(workdir, 1, {"done"}, timeout=120)
    # Seen once in CI under load (30 of 35 failed, the five unknown users not among them):
    # the message says where each row ended, for whoever meets it again.
    assert status["failed"] == len(spam) + len(unknown), _where_rows_ended(workdir, status, unknown)
    assert status["sent"] == len(addresses) - len(spam) - len(unknown)
    people = {
        p["email"]: p["status"]
        for p in json.loads(workdir.run("subscribers", "list", "--json").stdout)
    }
    assert {a for a, state in people.items() if state == "bounced"} == unknown
    assert all(people[a] == "subscribed" for a in spam)
    why = workdir.run("subscribers", "why", sorted(spam)[0], "--campaign", "1").stdout
    assert "554 5.7.1 Message rejected as spam" in why
