"""The CLI's contract: help everywhere, exit codes, one-line errors, JSON shapes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLES, Workdir


@pytest.mark.parametrize(
    "command",
    ["", "statements", "subscribers", "campaigns", "send", "preview", "demo", "init", "worker"],
)
def test_help(workdir: Workdir, command: str) -> None:
    result = workdir.run(*([command] if command else []), "--help")
    assert "Usage" in result.stdout


def test_bad_configuration_is_one_line_and_exit_2(workdir: Workdir) -> None:
    workdir.env["MAILER_RATE_LIMIT"] = "fast"
    result = workdir.run("statements", "list", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "MAILER_RATE_LIMIT" in result.stderr
    workdir.env.pop("MAILER_RATE_LIMIT")
    workdir.env["MAILER_BROKER_URL"] = "redis://127.0.0.1:1/0"
    result = workdir.run("statements", "list", check=False)
    assert result.returncode == 2 and "MAILER_SECRET_KEY" in result.stderr


def test_unknown_ids_fail_cleanly(workdir: Workdir) -> None:
    for args in (
        ("statements", "show", "nope"),
        ("campaigns", "status", "42"),
        ("subscribers", "show", "x@example.org"),
    ):
        result = workdir.run(*args, check=False)
        assert result.returncode == 1, args
        assert "Traceback" not in result.stderr and result.stderr.startswith("error: no ")


def test_send_and_status_json(workdir: Workdir) -> None:
    workdir.run("init")
    workdir.run("statements", "import", str(EXAMPLES / "statements"))
    workdir.run("subscribers", "import", str(EXAMPLES / "subscribers.csv"), "--consented")
    workdir.run("send", "nso-export-licence-en", fresh=True)  # the embedded worker, from start
    status = json.loads(workdir.run("campaigns", "status", "1", "--json").stdout)
    assert status["state"] == "done"
    assert (
        status["total"] == status["sent"] + status["failed"] + status["pending"] + status["skipped"]
    )
    assert set(status["by_locale"]) == {"fr", "fr_BE", "nl", "nl_BE", "de", "en"}
    assert all(
        {"total", "sent", "failed", "pending"} <= v.keys() for v in status["by_locale"].values()
    )
    campaigns = json.loads(workdir.run("campaigns", "list", "--json").stdout)
    assert [c["id"] for c in campaigns] == [1]
    assert {"id", "statement", "state", "created_at", "send_at"} <= campaigns[0].keys()
    assert len(list(workdir.outbox.iterdir())) == status["sent"]
