"""Completeness gate: the template is current and every catalog translates every message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from mailer.i18n import available_catalogs
from mailer.paths import LOCALE_DIR, PROJECT_DIR

REQUIRED = ("ar", "de", "en", "fr", "nl")


def _ids(path: Path) -> set[str]:
    with path.open("rb") as handle:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}


def test_messages_pot_is_up_to_date(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-o",
            str(fresh),
            "--no-location",
            "--omit-header",
            "--sort-output",
            ".",
        ],
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
    )
    assert _ids(fresh) == _ids(LOCALE_DIR / "messages.pot"), "run `make catalogs`"


def test_required_catalogs_exist() -> None:
    assert set(REQUIRED) <= set(available_catalogs())


@pytest.mark.parametrize("locale", available_catalogs())
def test_catalog_is_complete(locale: str) -> None:
    wanted = _ids(LOCALE_DIR / "messages.pot")
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)

    def translated(message_id: str) -> bool:
        entry = catalog.get(message_id)
        if entry is None:
            return False
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        return all(forms)  # every plural form, too

    missing = sorted(str(m) for m in wanted if not translated(m))
    fuzzy = sorted(str(m.id) for m in catalog if m.id and m.fuzzy)
    assert not missing, f"{locale} misses {missing}"
    assert not fuzzy, f"{locale} has fuzzy entries {fuzzy}"
