"""The secret key: created once and whole by concurrent first starts, never empty or short anywhere."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, Workdir

PROCESSES = 24
ROUNDS = 8

# Each process imports everything first, then waits for the signal of each round, so that
# all of them ask for the key of a fresh data directory within the same millisecond.
_RACER = """
import hashlib, os, sys, time
from pathlib import Path
from mailer.config import load_settings

base = Path(sys.argv[1])
os.umask(0)  # the key file must be 0600 by itself, whatever the umask
(base / f"ready.{os.getpid()}").touch()
for round_ in range(int(sys.argv[2])):
    go = base / f"go.{round_}"
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("no signal")
        time.sleep(0.0005)
    try:
        key = load_settings({"MAILER_DATA_DIR": str(base / f"data.{round_}")}).secret_key
        line = f"{round_} {hashlib.sha256(key.encode()).hexdigest()} {len(key)}"
    except Exception as exc:
        line = f"{round_} error {type(exc).__name__}: {exc}"
    print(line, flush=True)
    (base / f"done.{round_}.{os.getpid()}").touch()
"""


def _wait_for(base: Path, pattern: str, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while len(list(base.glob(pattern))) < count:
        assert time.monotonic() < deadline, f"{pattern}: {len(list(base.glob(pattern)))}/{count}"
        time.sleep(0.01)


def test_concurrent_first_starts_all_end_with_one_whole_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["PYTHONPATH"] = str(ROOT)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tmp_path), str(ROUNDS)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        _wait_for(tmp_path, "ready.*", PROCESSES)
        for round_ in range(ROUNDS):
            (tmp_path / f"go.{round_}").touch()
            _wait_for(tmp_path, f"done.{round_}.*", PROCESSES)
        outputs = [racer.communicate(timeout=60) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
    lines = [line for out, _ in outputs for line in out.splitlines()]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in outputs]
    for round_ in range(ROUNDS):
        answers = {line.split(" ", 1)[1] for line in lines if line.startswith(f"{round_} ")}
        assert len(answers) == 1, (round_, answers)  # the same key, for every process
        digest, length = answers.pop().split()
        assert int(length) >= 32, (round_, digest, length)
        data = tmp_path / f"data.{round_}"
        assert [p.name for p in data.iterdir()] == ["secret_key"]  # no temporary file left
        key_file = data / "secret_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert len(key_file.read_text(encoding="ascii").strip()) == int(length)


@pytest.mark.parametrize("content", ["", "too-short-a-key\n"])
def test_a_broken_key_file_stops_every_command(bare_workdir: Workdir, content: str) -> None:
    key_file = bare_workdir.path / ".mailer" / "secret_key"
    key_file.parent.mkdir()
    key_file.write_text(content, encoding="ascii")
    result = bare_workdir.run("init", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and str(Path(".mailer") / "secret_key") in result.stderr
    assert key_file.read_text(encoding="ascii") == content  # never replaced silently
    doctor = bare_workdir.run("doctor", check=False)
    assert doctor.returncode == 1
    assert any(
        line.startswith("FAIL") and "secret_key" in line for line in doctor.stdout.splitlines()
    )


@pytest.mark.parametrize("value", ["", "short", "ab" * 30])
def test_an_empty_or_short_secret_key_variable_is_refused(
    bare_workdir: Workdir, value: str
) -> None:
    bare_workdir.env["MAILER_SECRET_KEY"] = value
    result = bare_workdir.run("init", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: MAILER_SECRET_KEY: ")
    assert result.stderr.count("\n") == 1
    assert not (bare_workdir.path / ".mailer" / "secret_key").exists()
    doctor = bare_workdir.run("doctor", check=False)
    fails = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL")]
    assert doctor.returncode == 1 and any("MAILER_SECRET_KEY" in line for line in fails)
    assert value.strip() == "" or value not in doctor.stdout  # the key itself is never shown


def test_doctor_checks_the_key_file(bare_workdir: Workdir) -> None:
    bare_workdir.run("init")
    key_file = bare_workdir.path / ".mailer" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    good = bare_workdir.run("doctor", check=False)
    assert any(line.startswith("ok   secret key") for line in good.stdout.splitlines())
    key_file.chmod(0o644)
    lax = bare_workdir.run("doctor", check=False)
    assert lax.returncode == 1
    assert any(
        line.startswith("FAIL secret key") and "readable by other users" in line
        for line in lax.stdout.splitlines()
    )
    assert key_file.read_text(encoding="ascii").strip() not in lax.stdout


def test_a_key_of_16_characters_works_and_doctor_calls_it_weak(bare_workdir: Workdir) -> None:
    bare_workdir.env["MAILER_SECRET_KEY"] = "test-secret-key-for-the-suite"  # 29 characters
    bare_workdir.run("init")
    doctor = bare_workdir.run("doctor", check=False)
    line = next(x for x in doctor.stdout.splitlines() if "secret key" in x)
    assert line.startswith("ok") and "weak" in line
    assert "test-secret-key-for-the-suite" not in doctor.stdout
