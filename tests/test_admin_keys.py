"""A translation key derived from a title is cut between two words, never inside one."""

from __future__ import annotations

from pathlib import Path

from mailer.statements import parse_file
from tests.conftest import SEED


def test_the_seeds_derived_key_ends_on_a_whole_word(tmp_path: Path) -> None:
    copy = tmp_path / "communique.txt"  # a name that declares no key: the title gives it
    copy.write_bytes(SEED.read_bytes())
    statement = parse_file(copy)
    assert statement.translation_key == "israel-rejet-de-la-demande-d-annulation-de-la-licence"
    assert statement.id == f"{statement.translation_key}-fr"
    words = set(statement.title.lower().replace("’", " ").replace(",", " ").split())
    assert statement.translation_key.rsplit("-", 1)[1] in words  # not "...-licence-d"
