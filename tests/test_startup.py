"""Commands import what they use: help without the heavy libraries, list without the language
detector, light packages; the embedded worker starts only for work and is gone when it is done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mailer
from mailer.cli import COMMANDS, app
from mailer.cli.lazy import first_paragraph, load_command

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
HEAVY = ("sqlalchemy", "celery", "lingua", "premailer", "pydantic_settings")
# Three people the seed statement's alert is routed to (alerts on, a topic in common).
THREE = """email,name,locale,country,topics,alerts
ana@example.org,Ana,fr,BE,NSO Group,true
bert@example.org,Bert,nl,BE,surveillance,true
carla@example.org,Carla,de,BE,NSO Group,true
"""


def _environment(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        MAILER_DATABASE_URL=f"sqlite:///{directory / 'mailer.db'}",
        MAILER_BROKER_URL="memory://",
        MAILER_TRANSPORT_URL=f"maildir:{directory / 'outbox'}",
        MAILER_DATA_DIR=str(directory / ".mailer"),
        MAILER_ORG_FILE=str(EXAMPLES / "mailer.toml"),
    )
    return env


def _loaded_after(argv: list[str], directory: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run `mailer ARGV` in a fresh interpreter; its output and the top-level modules it
    had imported by the end."""
    # The command ends the process itself (mailer.cli.finish): the modules are listed by an
    # exit handler, which it runs.
    script = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
        "from mailer.cli import main\n"
        f"sys.argv = ['mailer', *{argv!r}]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    *_, modules = done.stderr.strip().splitlines()
    loaded = set(json.loads(modules))
    return {
        "stdout": done.stdout,
        "modules": {name.split(".")[0] for name in loaded},
        "all": loaded,
    }


def test_help_lists_every_command_without_the_heavy_libraries(tmp_path: Path) -> None:
    result = _loaded_after(["--help"], tmp_path, _environment(tmp_path))
    assert not result["modules"] & set(HEAVY), result["modules"] & set(HEAVY)
    listed = " ".join(result["stdout"].split())
    for name, entry in COMMANDS.items():
        assert f" {name} {entry.help}" in listed, name
    # Plain help: rich's renderers cost more to import than typer itself.
    assert "rich" not in result["modules"]


def test_the_help_table_matches_the_commands() -> None:
    for name, entry in COMMANDS.items():
        assert entry.help == first_paragraph(load_command(name, entry).help), name


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mailer", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == f"mailer {mailer.__version__}\n"


def test_statements_list_leaves_the_language_detector_and_the_queue_unloaded(
    tmp_path: Path,
) -> None:
    env = _environment(tmp_path)
    for argv in (["init"], ["statements", "import", str(EXAMPLES / "statements")]):
        subprocess.run(
            [sys.executable, "-m", "mailer", *argv], cwd=tmp_path, env=env, check=True, timeout=120
        )
    result = _loaded_after(["statements", "list", "--json"], tmp_path, env)
    assert {row["id"] for row in json.loads(result["stdout"])} >= {"nso-export-licence-fr"}
    assert "lingua" not in result["modules"]
    assert not result["modules"] & {"celery", "premailer", "jinja2"}
    # Read with SQLAlchemy Core: neither the ORM nor the models.
    assert not result["all"] & {"sqlalchemy.orm", "mailer.store.models"}


def test_the_listed_columns_are_the_models() -> None:
    from mailer.statements.listing import LISTED
    from mailer.store.models import StatementRow

    model = StatementRow.__table__.c
    for listed in LISTED.c:
        assert listed.name in model, listed.name
        assert type(listed.type) is type(model[listed.name].type), listed.name


def test_packages_load_their_names_on_first_use() -> None:
    packages = [
        "mailer.bounces",
        "mailer.campaigns",
        "mailer.ledger",
        "mailer.render",
        "mailer.statements",
        "mailer.store",
        "mailer.subscribers",
        "mailer.transport",
        "mailer.web",
    ]
    script = (
        "import importlib, json, sys\n"
        f"for name in {packages!r}:\n"
        "    importlib.import_module(name)\n"
        "light = sorted({m.split('.')[0] for m in sys.modules})\n"
        "names = {}\n"
        f"for name in {packages!r}:\n"
        "    package = sys.modules[name]\n"
        "    names[name] = [n for n in getattr(package, '__all__', []) if getattr(package, n) is None]\n"
        "print(json.dumps({'light': light, 'missing': names}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    found = json.loads(done.stdout)
    assert not set(found["light"]) & {"sqlalchemy", "jinja2", "starlette", "lxml", "pydantic"}
    # Every public name resolves (an AttributeError above would have failed the script).
    assert all(not missing for missing in found["missing"].values())
    from mailer.store import Database
    from mailer.store.db import Database as Direct

    assert Database is Direct


@pytest.fixture
def initialised(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    env = _environment(tmp_path)
    (tmp_path / "three.csv").write_text(THREE, encoding="utf-8")
    yield tmp_path, env


def _invoke(env: dict[str, str], *argv: str) -> None:
    result = CliRunner().invoke(app, list(argv), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mailer-embedded-worker"]


class _WorkerStarts:
    """Counts the workers created in this process (Celery's worker_init signal)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **_: object) -> None:
        self.count += 1


def test_embedded_worker_starts_for_work_and_is_gone_when_the_send_returns(
    initialised: tuple[Path, dict[str, str]],
) -> None:
    from celery.signals import worker_init

    directory, env = initialised
    _invoke(env, "init")
    _invoke(env, "statements", "import", str(EXAMPLES / "statements"))
    starts = _WorkerStarts()
    worker_init.connect(starts, weak=False)
    try:
        # Queues nothing: every person is consented, no confirmation email to send.
        _invoke(env, "subscribers", "import", str(directory / "three.csv"), "--consented")
        assert starts.count == 0
        _invoke(env, "send", "nso-export-licence-fr", "--wait")
        assert starts.count == 1
    finally:
        worker_init.disconnect(starts)
    # The send returned: its worker's thread has ended, nothing is left polling.
    assert _worker_threads() == []
    assert len(list((directory / "outbox" / "new").iterdir())) == 3


def _mailer(env: dict[str, str], directory: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailer", *argv],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_command_ends_with_its_code_its_whole_output_and_the_database_folded(
    tmp_path: Path,
) -> None:
    # Commands end the process without tearing the interpreter down (mailer.cli.finish):
    # what a normal exit gives must still be there.
    env = _environment(tmp_path)
    assert _mailer(env, tmp_path, "init").returncode == 0
    imported = _mailer(env, tmp_path, "statements", "import", str(EXAMPLES / "statements"))
    assert imported.returncode == 0, imported.stderr
    listed = _mailer(env, tmp_path, "statements", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    # The whole output reached the pipe (a lost buffer would cut the JSON short).
    assert {row["id"] for row in json.loads(listed.stdout)} >= {"nso-export-licence-fr"}
    # The pooled connections were closed: SQLite folded its write-ahead log into the database
    # and removed it, as after a normal exit.
    assert not (tmp_path / "mailer.db-wal").exists()
    # A user's mistake keeps its one-line error and exit code 1; a usage error keeps 2.
    missing = _mailer(env, tmp_path, "statements", "show", "no-such-statement")
    assert missing.returncode == 1 and "no-such-statement" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert _mailer(env, tmp_path, "no-such-command").returncode == 2
