"""Operations: logs without addresses, `mailer doctor`, and the docker-compose deployment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, ROOT, Workdir
from tests.processes import configure_for, worker_process
from tests.servers import RedisServer, SMTPServer


@pytest.mark.redis
def test_logs_of_a_full_campaign_name_nobody(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer
) -> None:
    configure_for(workdir, redis_server, smtp_server, db=12)
    workdir.env.update(
        {"MAILER_LOG_FORMAT": "json", "MAILER_LOG_LEVEL": "INFO", "MAILER_BATCH_SIZE": "40"}
    )
    workdir.run("subscribers", "import", str(EXAMPLES / "subscribers.csv"), "--consented")
    workdir.run("statements", "import", str(EXAMPLES / "statements"))
    greylisted: set[str] = set()

    def fault(envelope: object) -> str | None:
        rcpt = envelope.rcpt_tos[0]  # type: ignore[attr-defined]
        if len(greylisted) < 10 and rcpt not in greylisted:
            greylisted.add(rcpt)
            return f"451 4.2.0 <{rcpt}>: Recipient address greylisted"  # servers quote addresses
        return None

    smtp_server.handler.fault = fault
    with worker_process(workdir, concurrency=2, loglevel="INFO"):
        result = workdir.run("statements", "publish", "nso-export-licence-fr", timeout=240)
    logs = (workdir.path / "worker.log").read_text(encoding="utf-8") + result.stdout + result.stderr
    assert "temporary failure" in logs and "batch:" in logs  # the logs do say what happened
    people = [
        line.split(",")[0]
        for line in (EXAMPLES / "subscribers.csv").read_text(encoding="utf-8").splitlines()[1:]
    ]
    leaked = [address for address in people if address in logs]
    assert leaked == []
    names = [
        line.split(",")[1]
        for line in (EXAMPLES / "subscribers.csv").read_text(encoding="utf-8").splitlines()[1:]
    ]
    assert [n for n in names if n and n in logs] == []
    json_lines = [
        line
        for line in (workdir.path / "worker.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert json_lines and all("level" in json.loads(line) for line in json_lines)


def test_doctor_names_each_problem(workdir: Workdir, tmp_path: Path) -> None:
    workdir.run("init")
    good = workdir.run("doctor")
    # Each line starts with its status word (a check's name such as "broker" holds "ok").
    status = {
        line.split(None, 1)[1].split(":")[0]: line.split()[0]
        for line in good.stdout.splitlines()
        if line.strip()
    }
    assert set(status.values()) <= {"ok", "skip"}, good.stdout
    for check in ("configuration", "secret key", "database", "broker", "transport", "dkim"):
        assert status[check] == "ok", good.stdout
    broken_key = tmp_path / "dkim.pem"
    broken_key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    workdir.env.update(
        {
            "MAILER_TRANSPORT_URL": "smtp://127.0.0.1:1?timeout=2",
            "MAILER_BROKER_URL": "redis://127.0.0.1:1/0",
            "MAILER_SECRET_KEY": "x",
            "MAILER_DKIM_SELECTOR": "s1",
            "MAILER_DKIM_DOMAIN": "example.org",
            "MAILER_DKIM_KEY_FILE": str(broken_key),
        }
    )
    bad = workdir.run("doctor", check=False)
    assert bad.returncode == 1
    lines = [line for line in bad.stdout.splitlines() if line.startswith("FAIL")]
    assert any("broker" in line for line in lines)
    assert any("smtp" in line.lower() for line in lines)
    assert any("dkim" in line.lower() for line in lines)
    assert all(len(line) < 300 for line in lines)
    assert "Traceback" not in bad.stderr


def test_compose_file_matches_the_cli_and_the_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"redis", "postgres", "worker", "beat", "web", "mailpit"} <= set(services)
    from typer.main import get_command

    from mailer.cli import app
    from mailer.config import _Environment

    cli = get_command(app)
    known = {f"MAILER_{name.upper()}" for name in _Environment.model_fields}
    for name, service in services.items():
        command = service.get("command")
        if command and name not in {"redis", "postgres", "mailpit"}:
            words = command if isinstance(command, list) else command.split()
            assert words[0] == "mailer" and words[1] in cli.commands, (name, words)  # type: ignore[attr-defined]
        environment = service.get("environment", {})
        variables = (
            environment
            if isinstance(environment, dict)
            else dict(e.split("=", 1) for e in environment)
        )
        for variable in variables:
            if variable.startswith("MAILER_"):
                assert variable in known, (name, variable)
        assert "healthcheck" in service, f"{name} has no health check"
    for anchor in compose.get("x-mailer-environment", {}):
        assert anchor in known
    assert (ROOT / "Dockerfile").is_file()
