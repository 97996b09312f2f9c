"""No password in any output (doctor, errors, logs), no address in logs, in any script or traceback."""

from __future__ import annotations

import json
import logging

import pytest

from mailer.logs import configure_logging
from mailer.redact import mask_credentials, redact
from tests.conftest import Workdir

PASSWORDS = ("Db-Pa55/word", "Br0ker-Pa55", "Smtp-Pa55", "Dsn-Pa55")
KEY = "a-test-secret-key-of-forty-characters-01"


def _credentials(workdir: Workdir) -> None:
    workdir.env.update(
        {
            "MAILER_DATABASE_URL": "postgresql+psycopg://mailer:Db-Pa55/word@127.0.0.1:1/mailer",
            "MAILER_BROKER_URL": "redis://:Br0ker-Pa55@127.0.0.1:1/0",
            "MAILER_TRANSPORT_URL": "smtp://alerts@example.org:Smtp-Pa55@127.0.0.1:1?timeout=2",
            "MAILER_SECRET_KEY": KEY,
        }
    )


def test_doctor_never_prints_a_password(bare_workdir: Workdir) -> None:
    _credentials(bare_workdir)
    result = bare_workdir.run("doctor", check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output
    assert "database" in output and "broker" in output and "smtp" in output.lower()
    for secret in (*PASSWORDS, KEY, "Db-Pa55"):
        assert secret not in output, secret
    assert "redis://:***@127.0.0.1:1/0" in output


def test_errors_never_print_a_password(bare_workdir: Workdir) -> None:
    _credentials(bare_workdir)
    for command in (["init"], ["statements", "list"]):
        result = bare_workdir.run(*command, check=False)
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr
        for secret in (*PASSWORDS, "Db-Pa55"):
            assert secret not in result.stdout + result.stderr, (command, secret)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:Br0ker-Pa55@127.0.0.1:16391/0", "redis://:***@127.0.0.1:16391/0"),
        ("postgresql+psycopg://u:Db-Pa55/word@db:5432/m", "postgresql+psycopg://u:***@db:5432/m"),
        (
            "imaps://bounces:Dsn-Pa55@imap.example.org/INBOX",
            "imaps://bounces:***@imap.example.org/INBOX",
        ),
        ("host=db user=x password=Dsn-Pa55 dbname=m", "host=db user=x password=*** dbname=m"),
        ("{'user': 'x', 'password': 'Dsn-Pa55'}", "{'user': 'x', 'password': '***'}"),
        ("https://example.org/u/abc ok", "https://example.org/u/abc ok"),
    ],
)
def test_credentials_are_masked_in_any_text(text: str, shown: str) -> None:
    assert mask_credentials(text) == shown
    assert redact(text) == shown


ADDRESSES = (
    "ana@example.org",
    "jürgen.müller@bücher.de",
    "李@例え.jp",
    "用户@例子.广告",
    "δοκιμή@παράδειγμα.δοκιμή",
    '"john doe"@example.org',
    "o'brien+alerts@sub.example.co.uk",
)


@pytest.mark.parametrize("json_lines", [False, True])
def test_logs_hold_no_address_in_any_script_nor_in_tracebacks(
    capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    configure_logging("INFO", json_lines=json_lines)
    log = logging.getLogger("mailer.test")
    try:
        for address in ADDRESSES:
            log.warning("550 5.1.1 <%s>: user unknown", address)
        try:
            raise ValueError(f"cannot send to {ADDRESSES[1]} via smtp://u:Smtp-Pa55@relay:25")
        except ValueError:
            log.exception("send failed for %s", ADDRESSES[2])
        log.warning("broker redis://:Br0ker-Pa55@127.0.0.1:16391/0 is down", stack_info=True)
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    if json_lines:
        assert all(json.loads(line) for line in err.splitlines() if line.startswith("{"))
    assert "Traceback" in err and "ValueError" in err
    for address in ADDRESSES:
        assert address not in err and address.split("@")[0] + "@" not in err, address
    assert "Smtp-Pa55" not in err and "Br0ker-Pa55" not in err
    assert "redis://:***@127.0.0.1:16391/0" in err  # the broker URL stays readable
    assert err.count("<address>") >= len(ADDRESSES) + 2
