"""An id past what the database can hold names nothing: one line, exit 2, on every command."""

from __future__ import annotations

import pytest

from tests.conftest import Workdir

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "command",
    [
        ["campaigns", "status", HUGE],
        ["subscribers", "why", "ana@example.org", "--campaign", HUGE],
    ],
)
def test_a_huge_id_is_one_line(workdir: Workdir, command: list[str]) -> None:
    workdir.env["MAILER_SECRET_KEY"] = "cli-bounds-test-secret-key-0123456789"
    result = workdir.run(*command, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "too large" in result.stderr
