"""Internationalised addresses (issue #14, item 4): an IDN domain or a UTF-8 local part never
stops a campaign; SMTPUTF8 where the relay offers it, A-labels where it does not, and otherwise
that one row fails with its reason. Through the CLI, a real worker and real aiosmtpd servers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import EXAMPLES, Workdir
from tests.servers import SMTPServer

PEOPLE = ["zoë@exämple.org", "ana@exämple.org", "before@example.org", "after@example.org"]


@pytest.fixture(params=[True, False], ids=["smtputf8", "ascii-only"])
def relay(request: pytest.FixtureRequest) -> Iterator[tuple[SMTPServer, bool]]:
    server = SMTPServer(smtputf8=request.param).start()
    try:
        yield server, request.param
    finally:
        server.stop()


def test_international_addresses_fail_alone_or_travel(
    workdir: Workdir, relay: tuple[SMTPServer, bool]
) -> None:
    server, smtputf8 = relay
    workdir.env.update(
        {"MAILER_TRANSPORT_URL": server.url, "MAILER_SECRET_KEY": "idn-test-secret-key-0123456789"}
    )
    workdir.run("statements", "import", str(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    for address in PEOPLE:
        workdir.run("subscribers", "add", address, "--locale", "en", "--consented")
    # `--wait` returns: no row is left `sending`, whatever the addresses.
    workdir.run("send", "nso-export-licence-en", "--wait", timeout=120)
    status = json.loads(workdir.run("campaigns", "status", "1", "--json").stdout)
    assert status["state"] == "done" and status["pending"] == 0
    received = {r.rcpt_tos[0]: r for r in server.handler.received}
    assert "ana@xn--exmple-cua.org" in received  # the A-label: every relay takes it
    assert {"before@example.org", "after@example.org"} <= set(received)
    if smtputf8:
        assert status["sent"] == 4 and status["failed"] == 0
        message = received["zoë@exämple.org"].message()
        assert "zoë@exämple.org" in str(message["To"])
    else:
        assert status["sent"] == 3 and status["failed"] == 1
        why = workdir.run("subscribers", "why", "zoë@exämple.org", "--campaign", "1").stdout
        assert "SMTPUTF8" in why
        shown = json.loads(workdir.run("subscribers", "show", "zoë@exämple.org", "--json").stdout)
        assert shown["status"] == "subscribed"  # the relay's limit, not the person's fault
