"""CSV imports in bounded memory whatever the file's shape; each bad row fails alone, with its line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.errors import InputError
from mailer.store import Database, open_database
from mailer.subscribers.importer import import_csv
from mailer.subscribers.store import get_by_email
from tests.conftest import ROOT


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path}/mailer.db")
    try:
        yield database
    finally:
        database.dispose()


def _csv(tmp_path: Path, data: bytes, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_bad_byte_fails_its_row_only_with_its_true_line(db: Database, tmp_path: Path) -> None:
    data = (
        b"email,name\n"
        b"ana@example.org,Ana\n"  # 2
        b'bob@example.org,"Bob\nBuilder"\n'  # 3-4
        b"carla@example.org,Carla Caf\xe9\n"  # 5: Latin-1, not UTF-8
        b"dmitri@example.org,\xd0\x94\xd0\xbc\xd0\xb8\xd1\x82\xd1\x80\xd0\xb8\xd0\xb9\n"  # 6
        b'eve@example.org,"Eve\n\xffsecond line"\n'  # 7-8: bad byte on the row's 2nd line
        b"fatima@example.org,Fatima\n"  # 9
    )
    report = import_csv(db, _csv(tmp_path, data), consented=True)
    rejected = {line: reason for line, reason, _ in report.rejected}
    assert sorted(rejected) == [5, 7]
    assert all("not UTF-8" in reason for reason in rejected.values())
    assert report.created == 4
    with db.session() as session:
        assert get_by_email(session, "dmitri@example.org").name == "Дмитрий"
        assert get_by_email(session, "fatima@example.org").name == "Fatima"


def test_an_oversized_cell_fails_its_row_only(db: Database, tmp_path: Path) -> None:
    big = b"x" * (200 * 1024)
    data = (
        b"email,name,notes\n"
        b"ana@example.org,Ana,\n"
        b"bob@example.org,Bob," + big + b"\n"  # 3: one line of 200 KB
        b'carla@example.org,Carla,"' + b"y\n" * 80_000 + b'"\n'  # 4-80004: 160 KB quoted cell
        b"dan@example.org,Dan,a note\n"  # 80005
        b"eve@example.org,Eve," + b"z" * 20_000 + b"\n"  # 80006: over the cell limit
        b"fay@example.org,Fay,\n"
    )
    report = import_csv(db, _csv(tmp_path, data), consented=True)
    rejected = {line: reason for line, reason, _ in report.rejected}
    assert rejected[3].startswith("row longer than 128 KB")
    assert 4 in rejected and 80006 in rejected and "notes: longer than 10,000" in rejected[80006]
    with db.session() as session:
        for address in ("ana", "dan", "fay"):
            assert get_by_email(session, f"{address}@example.org")
        assert get_by_email(session, "dan@example.org").attributes == {"notes": "a note"}


def test_a_header_of_too_many_columns_refuses_the_file(db: Database, tmp_path: Path) -> None:
    wide = "email," + ",".join(f"c{i}" for i in range(300))  # a wide CRM export is fine
    import_csv(db, _csv(tmp_path, (wide + "\nbea@example.org\n").encode()), consented=True)
    header = "email," + ",".join(f"c{i}" for i in range(1000))
    with pytest.raises(InputError, match="1001 columns in the header row; at most 1000") as caught:
        import_csv(db, _csv(tmp_path, (header + "\nana@example.org\n").encode()), consented=True)
    assert caught.value.line == 1


_MEASURE = """
import json, sys
from pathlib import Path
from mailer.errors import InputError
from mailer.store import open_database
from mailer.subscribers.importer import import_csv
db = open_database(sys.argv[2])
try:
    report = import_csv(db, Path(sys.argv[1]), consented=True, parallel=False)
    outcome = {"created": report.created, "rejected": report.rejected_count}
except InputError as exc:
    outcome = {"error": str(exc)}
# VmHWM, not ru_maxrss: Linux carries the forking parent's peak into ru_maxrss across exec.
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
outcome["rss_mb"] = int(peak.split()[1]) / 1024
print(json.dumps(outcome))
"""


def _measure(tmp_path: Path, path: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), f"sqlite:///{tmp_path}/m.db"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_memory_stays_bounded_whatever_the_shape(tmp_path: Path) -> None:
    # 21 MB, 200,000 columns: the file is refused at its header.
    wide = tmp_path / "wide.csv"
    with wide.open("wb") as handle:
        handle.write(b"email," + b",".join(b"c%d" % i for i in range(200_000)) + b"\n")
        for i in range(10):
            handle.write(b"p%d@example.org," % i + b"x," * 200_000 + b"\n")
    outcome = _measure(tmp_path, wide)
    assert "wide.csv:1: header row longer than 128 KB" in str(outcome["error"])
    assert float(outcome["rss_mb"]) < 200  # type: ignore[arg-type]
    # A sane header, then 100 rows of 200,000 cells each (40 MB): each row is rejected alone.
    rows = tmp_path / "rows.csv"
    with rows.open("wb") as handle:
        handle.write(b"email,name\n")
        for i in range(100):
            handle.write(b"p%d@example.org," % i + b"x," * 200_000 + b"\n")
        handle.write(b"last@example.org,Last\n")
    outcome = _measure(tmp_path, rows)
    assert (outcome["created"], outcome["rejected"]) == (1, 100)
    assert float(outcome["rss_mb"]) < 200  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("x@example.org," + "n" * 201 + ",,,", "name: longer than 200"),
        ("x@example.org,X," + ";".join(f"t{i}" for i in range(51)) + ",,", "topics: more than 50"),
        ("x@example.org,X,," + ";".join(f"l{i}" for i in range(51)) + ",", "lists: more than 50"),
        ("x@example.org,X," + "t" * 101 + ",,", "topics: 'tttt"),
        ("x@example.org,X,,,maybe", "alerts: expected true or false"),
        ("x@example.org,X,,,oui", "alerts: expected true or false"),
        ("x@example.org,Eve \x1b[2J,,,", "name: control character U+001B"),
        ("x@example.org,Nul \x00 byte,,,", "name: control character U+0000"),
    ],
)
def test_every_field_is_bounded(db: Database, tmp_path: Path, row: str, problem: str) -> None:
    data = f"email,name,topics,lists,alerts\n{row}\nok@example.org,Ok,,,yes\n".encode()
    report = import_csv(db, _csv(tmp_path, data), consented=True)
    assert report.created == 1 and report.rejected_count == 1
    line, reason, _ = report.rejected[0]
    assert line == 2 and problem in reason, reason


def test_strict_booleans_in_the_alerts_column(db: Database, tmp_path: Path) -> None:
    data = "email,alerts\na@example.org,YES\nb@example.org,0\nc@example.org,no\nd@example.org,1\n"
    import_csv(db, _csv(tmp_path, data.encode()), consented=True)
    with db.session() as session:
        prefs = [get_by_email(session, f"{c}@example.org").alert_pref for c in "abcd"]
    assert prefs == ["alerts", "digest", "digest", "alerts"]


def test_status_subscribed_needs_consent(db: Database, tmp_path: Path) -> None:
    data = b"email,status\nnew@example.org,subscribed\nwaiting@example.org,\n"
    import_csv(db, _csv(tmp_path, data), consented=False)
    # A second file says "subscribed" for someone still pending: still no consent.
    import_csv(
        db, _csv(tmp_path, b"email,status\nwaiting@example.org,subscribed\n"), consented=False
    )
    with db.session() as session:
        assert get_by_email(session, "new@example.org").status == "pending"
        assert get_by_email(session, "waiting@example.org").status == "pending"
        assert get_by_email(session, "new@example.org").consent_at is None
    import_csv(db, _csv(tmp_path, b"email,status\nnew@example.org,subscribed\n"), consented=True)
    with db.session() as session:
        assert get_by_email(session, "new@example.org").status == "subscribed"


def test_rejected_rows_are_written_without_live_formulas(db: Database, tmp_path: Path) -> None:
    from mailer.subscribers.importer import write_rejected

    data = 'email,name\n=HYPERLINK("https://evil.example"),@SUM(1)\nok@example.org,Ok\n'
    report = import_csv(db, _csv(tmp_path, data.encode()), consented=True)
    target = tmp_path / "rejected.csv"
    write_rejected(report, target)
    import csv

    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["email"].startswith("'=") and rows[0]["name"] == "'@SUM(1)"
