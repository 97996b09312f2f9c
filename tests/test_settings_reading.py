"""Settings read by hand from the environment and `.env`: precedence, names in any case, one
clear error per wrong value, and no validation library loaded to read them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailer.config import load_settings, read_field
from mailer.errors import ConfigError


def _in(directory: Path, env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_environment_over_dotenv_and_names_in_any_case(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "MAILER_BATCH_SIZE=17\nMAILER_RATE_LIMIT=3.5\n# a comment\nmailer_log_level=info\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MAILER")}
    env["MAILER_RATE_LIMIT"] = "9"
    env["MAILER_DATA_DIR"] = str(tmp_path / "data")
    code = (
        "import json, sys\n"
        "from mailer.config import load_settings\n"
        "s = load_settings()\n"
        "heavy = sorted(m for m in ('pydantic', 'pydantic_settings') if m in sys.modules)\n"
        "print(json.dumps([s.batch_size, s.rate_limit, s.log_level, heavy]))\n"
    )
    assert _in(tmp_path, env, code) == '[17, 9.0, "INFO", []]'


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("MAILER_BATCH_SIZE", "many", "must be a whole number"),
        ("MAILER_BATCH_SIZE", "0", "must be at least 1"),
        ("MAILER_BATCH_SIZE", "10001", "must be at most 10000"),
        ("MAILER_RATE_LIMIT", "nan", "must be at least 0"),
        ("MAILER_SWEEP_SECONDS", "0", "must be more than 0"),
        ("MAILER_LOG_FORMAT", "xml", "must be text or json"),
        ("MAILER_BROKER_URL", "amqp://host", "must start with memory://"),
        ("MAILER_DATABASE_URL", "not a url", "is not a SQLAlchemy URL"),
    ],
)
def test_a_wrong_value_names_its_variable(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MAILER_DATA_DIR": str(tmp_path), name: text})
    assert str(caught.value).startswith(f"{name}: {problem}")
    with pytest.raises(ValueError, match=problem):
        read_field(name.removeprefix("MAILER_").lower(), text)


def test_defaults_and_given_values(tmp_path: Path) -> None:
    settings = load_settings(
        {"MAILER_DATA_DIR": str(tmp_path), "MAILER_PUBLIC_URL": "https://example.org/news/"}
    )
    assert settings.public_url == "https://example.org/news"
    assert (settings.batch_size, settings.rate_limit, settings.broker_url) == (
        250,
        0.0,
        "memory://",
    )
    assert settings.embedded and len(settings.secret_key) >= 32
