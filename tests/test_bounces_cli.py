"""`mailer inbound` as an MTA runs it, and the VERP and soft-bounce settings of mailer.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mailer.bounces.mime import MAX_BYTES
from mailer.bounces.verp import MAX_BOUNCE_LOCAL, verp_sender
from mailer.errors import ConfigError
from mailer.org import load_profile
from tests.bounce_samples import sample
from tests.conftest import EXAMPLES, Workdir
from tests.inprocess import InProcess

PROFILE = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")


def _profile(tmp_path: Path, extra: str, *, bounce: str = "bounces@example.org") -> Path:
    text = PROFILE.replace(
        'bounce_address = "bounces@example.org"\n', f'bounce_address = "{bounce}"\n{extra}\n'
    )
    path = tmp_path / "org.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _inbound(workdir: Workdir, raw: bytes, *, check_code: int = 0) -> str:
    result = workdir.run("inbound", input=raw, check=False)
    assert result.returncode == check_code, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_inbound_reads_no_more_than_its_limit(workdir: Workdir) -> None:
    workdir.run("init")
    process = subprocess.Popen(
        [sys.executable, "-m", "mailer", "inbound"],
        cwd=workdir.path,
        env=workdir.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    written = 0

    def write() -> None:
        # A sender that never stops: a DSN whose returned message is endless.
        nonlocal written
        assert process.stdin is not None
        head = sample("dsn-hard-gmail.txt", None)
        chunk = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n" * 2000
        try:
            process.stdin.write(head)
            written += len(head)
            while written < 60 * MAX_BYTES:
                process.stdin.write(chunk)
                written += len(chunk)
            process.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()  # stdin stays the writer's
    process.wait(120)
    writer.join(30)
    assert process.returncode == 0, err
    assert "only its first 1024 KiB were read" in out.decode()
    # What the pipe held and the last chunk in flight, no more: the rest was never read.
    assert written < MAX_BYTES + 4 * 1024 * 1024


def test_inbound_says_one_line_for_anything(workdir: Workdir) -> None:
    workdir.run("init")
    nested = b"Subject: x\n" + b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(3000)
    )
    for raw in (
        b"",
        b"\x00\x01\x02 not a message at all \xff\xfe",
        nested,
        b"Subject: " + b"a " * 400_000 + b"\n\nlong",
        # A subject folded 300,000 times: quadratic (half a minute) in the modern email policy.
        b"Subject: y\n" + b" z\n" * 300_000 + b"\n",
        sample("hostile-malformed-mime.txt", None),
        sample("hostile-truncated.txt", None),
        sample("hostile-control-characters.txt", None),
    ):
        started = time.monotonic()
        out = _inbound(workdir, raw)
        assert out.count("\n") == 1 and "\x1b" not in out and len(out) < 400, out
        assert time.monotonic() - started < 8


def test_inbound_asks_the_mta_to_retry_when_the_database_is_down(workdir: Workdir) -> None:
    workdir.env.update(
        {
            "MAILER_DATABASE_URL": "postgresql+psycopg://mailer@127.0.0.1:1/nothing",
            "MAILER_SECRET_KEY": "inbound-test-secret-key-0123456789",
        }
    )
    result = workdir.run("inbound", input=sample("dsn-hard-gmail.txt", None), check=False)
    assert result.returncode == 75  # EX_TEMPFAIL: Postfix keeps the report and tries again
    assert result.stderr.count("\n") == 1


def test_inbound_takes_the_envelope_recipient_from_the_mta(workdir: Workdir) -> None:
    # Postfix's local(8) exports ORIGINAL_RECIPIENT to piped commands; a DSN whose headers
    # lost the VERP address still finds its delivery.
    workdir.run("init")
    workdir.env["ORIGINAL_RECIPIENT"] = "bounces+aaaaaaaaaaaaaaaaaaaaaaaaaa@example.org"
    out = _inbound(workdir, sample("dsn-hard-gmail.txt", None))
    assert "kept unmatched" in out  # a token that is not ours matches nothing


def test_verp_settings_of_the_profile(tmp_path: Path) -> None:
    org = load_profile(_profile(tmp_path, ""))
    assert org.verp and (org.soft_bounce_limit, org.soft_bounce_days) == (3, 7)
    assert re.fullmatch(r"bounces\+[a-z2-7]{26}@example\.org", verp_sender(org, "k", 1, 2))
    off = load_profile(_profile(tmp_path, "verp = false"))
    assert verp_sender(off, "k", 1, 2) == "bounces@example.org"
    no_bounce = load_profile(_profile(tmp_path, "", bounce=""))
    assert verp_sender(no_bounce, "k", 1, 2) == "alerts@example.org"
    longest = "b" * MAX_BOUNCE_LOCAL
    sender = verp_sender(
        load_profile(_profile(tmp_path, "", bounce=f"{longest}@example.org")),
        "k",
        2**40 - 1,
        2**40 - 1,
    )
    assert len(sender.partition("@")[0]) == 64
    for extra, bounce, words in (
        ("", f"{longest}b@example.org", "local part of at most"),
        ('verp = "no"', "bounces@example.org", "verp must be true or false"),
        ("soft_bounce_limit = 0", "bounces@example.org", "soft_bounce_limit"),
        ("soft_bounce_days = -1", "bounces@example.org", "soft_bounce_days"),
        ("", "not an address", "bounce_address is not an email address"),
    ):
        with pytest.raises(ConfigError, match=words):
            load_profile(_profile(tmp_path, extra, bounce=bounce))
    assert (
        load_profile(_profile(tmp_path, "verp = false", bounce=f"{longest}bb@example.org")).verp
        is False
    )


def test_verp_off_sends_the_plain_bounce_address(tmp_path: Path) -> None:
    run = InProcess(tmp_path, org_file=_profile(tmp_path, "verp = false"))
    run.statements("nso-export-licence.fr.txt")
    run.people("email,name,locale\nana@example.net,Ana,fr\n")
    run.send("nso-export-licence-fr")
    assert [s.envelope_from for s in run.transport.outbox] == ["bounces@example.org"]
    run.rt.close()


@pytest.mark.parametrize(
    "command", [("inbound",), ("bounces",), ("bounces", "fetch"), ("bounces", "list")]
)
def test_help(workdir: Workdir, command: tuple[str, ...]) -> None:
    assert "Usage" in workdir.run(*command, "--help").stdout


def test_bounces_fetch_without_a_mailbox_is_a_configuration_error(workdir: Workdir) -> None:
    result = workdir.run("bounces", "fetch", check=False)
    assert result.returncode == 2 and "MAILER_BOUNCE_MAILBOX" in result.stderr
    listed = workdir.run("bounces", "list", "--json")
    assert listed.stdout.strip() == "[]"
