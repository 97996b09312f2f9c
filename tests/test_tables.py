"""CLI tables never cut what an admin copies (ids, keys, addresses), in a terminal or a pipe."""

from __future__ import annotations

import io

import pytest

from mailer.cli.common import data_table, print_table
from mailer.cli.terminal import SafeConsole
from tests.conftest import SEED, Workdir

LONG_ID = "israel-rejet-de-la-demande-d-annulation-de-la-licence-fr"
LONG_KEY = "israel-rejet-de-la-demande-d-annulation-de-la-licence"
LONG_ADDRESS = "a-very-long-address-of-somebody@an-organisation-with-a-long-domain.example.org"


@pytest.mark.parametrize("terminal", [True, False])
def test_kept_columns_stay_whole_at_80_columns(terminal: bool) -> None:
    out = io.StringIO()
    console = SafeConsole(file=out, width=80, force_terminal=terminal, color_system=None)
    table = data_table("id", "key", "title", keep=("id", "key"))
    table.add_row(LONG_ID, LONG_KEY, "Israël, Rejet de la demande d’annulation de la licence")
    print_table(table, console)
    lines = out.getvalue().splitlines()
    assert any(LONG_ID in line and LONG_KEY in line for line in lines), out.getvalue()
    assert "…" not in out.getvalue()
    assert console.width == 80  # restored for what is printed next
    if not terminal:  # a pipe gets the natural width: nothing wraps
        assert any("licence" in line and LONG_ID in line for line in lines)


def test_statement_and_subscriber_lists_show_whole_ids(workdir: Workdir) -> None:
    copy = workdir.path / "communique.txt"
    copy.write_bytes(SEED.read_bytes())
    workdir.run("statements", "import", str(copy))
    listed = workdir.run("statements", "list").stdout
    assert any(LONG_ID in line and LONG_KEY in line for line in listed.splitlines()), listed
    workdir.run("subscribers", "add", LONG_ADDRESS, "--name", "Somebody With A Long Name")
    people = workdir.run("subscribers", "list").stdout
    assert any(LONG_ADDRESS in line for line in people.splitlines()), people
    assert "…" not in listed + people
