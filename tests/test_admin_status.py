"""Campaign status by the subscriber's language and the version sent: fallbacks show."""

from __future__ import annotations

import io
from pathlib import Path

from mailer.cli.common import print_table
from mailer.cli.progress import status_table
from mailer.cli.terminal import SafeConsole
from tests.inprocess import InProcess


def test_a_fallback_shows_under_the_subscribers_language_with_the_version_sent(
    tmp_path: Path,
) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.fr.txt", "nso-export-licence.ar.md")
    run.people("email,locale\nfr@example.org,fr\nnl@example.org,nl\nquiet@example.org,en,\n")
    status = run.send("nso-export-licence-ar")
    rows = {(r["language"], r["version"]): r for r in status["by_language"]}
    assert rows[("nl", "fr")]["sent"] == 1  # nl -> en -> fr: the French version
    assert rows[("fr", "fr")]["sent"] == 1
    assert status["by_locale"]["fr"]["sent"] == 3  # the email's locale hides the fallback
    out = io.StringIO()
    print_table(status_table(status), SafeConsole(file=out, width=60, color_system=None))
    text = out.getvalue()
    cells = [[c.strip() for c in line.split("│")][1:3] for line in text.splitlines()]
    assert ["nl", "fr"] in cells, text
    assert "nso-export-licence ·" in " ".join(text.split())  # not "nso-export-licence-ar"
    assert "…" not in text
