"""A published statement keeps the content its alert went out with, unless the admin says so."""

from __future__ import annotations

import json

from tests.conftest import EXAMPLES, Workdir


def test_a_published_statement_is_not_rewritten_by_a_plain_import(workdir: Workdir) -> None:
    english = EXAMPLES / "statements" / "nso-export-licence.en.md"
    workdir.run("subscribers", "import", str(EXAMPLES / "subscribers.csv"), "--consented")
    workdir.run("statements", "import", str(english), "--publish")
    edited = workdir.path / "nso-export-licence.en.md"
    text = english.read_text(encoding="utf-8")
    edited.write_text(text.replace("Israel:", "Israel (corrected):", 1), encoding="utf-8")
    new = workdir.path / "other.en.md"
    new.write_text(
        "---\nid: other-en\nlang: en\ntitle: Another statement\n---\nBody of another one.\n",
        encoding="utf-8",
    )
    refused = workdir.run("statements", "import", str(edited), str(new), check=False)
    assert refused.returncode == 1
    assert refused.stdout.split() == ["other-en"]  # the other file is imported all the same
    (line,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert "nso-export-licence-en is published" in line and "--update-published" in line

    def title() -> str:
        shown = workdir.run("statements", "show", "nso-export-licence-en", "--json").stdout
        return str(json.loads(shown)["title"])

    assert not title().startswith("Israel (corrected):")
    workdir.run("statements", "import", str(edited), "--update-published")
    assert title().startswith("Israel (corrected):")
