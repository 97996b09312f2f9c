"""The organisation's time zone is checked when the profile is read; topics in a cell split on ';'."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.errors import ConfigError
from mailer.org import load_profile
from mailer.subscribers.store import get_by_email
from tests.conftest import Workdir
from tests.inprocess import EXAMPLES, InProcess

PROFILE = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")


def _profile(tmp_path: Path, zone: str) -> Path:
    path = tmp_path / "mailer.toml"
    path.write_text(
        PROFILE.replace('timezone = "Europe/Brussels"', f'timezone = "{zone}"'), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize("zone", ["Europe/Brusels", "CET+1", "../../etc/passwd", "Mars/Olympus"])
def test_an_unknown_time_zone_stops_the_profile(tmp_path: Path, zone: str) -> None:
    path = _profile(tmp_path, zone)
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert "mailer.toml" in message and "organisation.timezone" in message and zone in message
    assert "\n" not in message


def test_a_known_time_zone_is_kept(tmp_path: Path) -> None:
    assert load_profile(_profile(tmp_path, "America/Sao_Paulo")).timezone == "America/Sao_Paulo"


def test_the_cli_says_so_in_one_line(workdir: Workdir) -> None:
    workdir.env["MAILER_ORG_FILE"] = str(_profile(workdir.path, "Europe/Brusels"))
    result = workdir.run("campaigns", "list", check=False)  # reads the profile
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "mailer.toml" in result.stderr and "organisation.timezone" in result.stderr


def test_topics_in_a_csv_cell_are_separated_by_semicolons(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.people('email,topics\nana@example.org,"détention; surveillance ;NSO Group"\n')
    with run.rt.db.session() as session:
        assert get_by_email(session, "ana@example.org").topics == [
            "détention",
            "surveillance",
            "NSO Group",
        ]
