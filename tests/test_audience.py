"""Audience on SQLite and PostgreSQL: messy CSVs, suppression, erasure, segments, why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.errors import InputError, SubscriberRowError
from mailer.store import Database, open_database
from mailer.store.models import Subscriber
from mailer.subscribers.actions import forget, unsubscribe
from mailer.subscribers.importer import import_csv
from mailer.subscribers.segment_parse import SegmentError
from mailer.subscribers.segments import count_segment
from mailer.subscribers.store import get_by_email, upsert
from mailer.subscribers.validate import validate_row

MESSY = (
    "\ufeffemail;name;locale;country;topics;alerts;lists;status;member_since\n"  # BOM, ';'
    "ana@example.org;Ana;fr_BE;BE;NSO Group;true;press;;2019\n"  # line 2
    "  ANA@Example.org ;Ana Silva;;;;;donors;;\n"  # 3: duplicate differing in case and spaces
    "not-an-address;X;fr;BE;;true;;;\n"  # 4: invalid address
    'bob@example.org;"Bob\nBuilder";nl;NL;;true;;;\n'  # 5-6: quoted field with a newline
    "carla@example.org;Carla;xx;;;true;;;\n"  # 7: unknown locale
    "dmitri@example.org;Дмитрий Иванов;en;GB;;true;;;\n"  # 8: non-Latin name
    "eve@example.org;Eve;en;GB;;true;;unsubscribed;\n"  # 9
    "fatima@example.org;فاطمة الزهراء;ar;MA;;false;;;\n"  # 10: right-to-left name
    "@example.org;Nobody;en;;;true;;;\n"  # 11: invalid address
)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    try:
        yield database
    finally:
        database.dispose()


def _write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_messy_csv_keeps_every_good_row(db: Database, tmp_path: Path) -> None:
    report = import_csv(db, _write(tmp_path, MESSY), consented=True)
    rejected = {line: reason for line, reason, _ in report.rejected}
    assert sorted(rejected) == [4, 7, 11]
    assert rejected[4].startswith("email:") and "locale" in rejected[7]
    assert report.created == 5 and report.updated == 1
    with db.session() as session:
        ana = get_by_email(session, "ana@example.org")
        assert (ana.name, ana.locale, ana.lists, ana.topics) == (
            "Ana Silva",
            "fr_BE",
            ["donors", "press"],
            ["NSO Group"],
        )
        assert ana.attributes == {"member_since": "2019"}
        assert get_by_email(session, "bob@example.org").name == "Bob Builder"
        assert get_by_email(session, "dmitri@example.org").name == "Дмитрий Иванов"
        assert get_by_email(session, "fatima@example.org").alert_pref == "digest"
        assert get_by_email(session, "eve@example.org").status == "unsubscribed"
    # The same file again, every row now saying "subscribed": nobody who left comes back.
    again = MESSY.replace("unsubscribed", "subscribed").replace(";;2019", ";subscribed;2019")
    report = import_csv(db, _write(tmp_path, again), consented=True)
    with db.session() as session:
        assert get_by_email(session, "eve@example.org").status == "unsubscribed"
        count = len(session.scalars(select(Subscriber.id)).all())
    assert count == 5


@pytest.mark.parametrize(
    ("content", "problem"),
    [("", "empty file"), ("name,locale\nAna,fr\n", "no 'email' column")],
)
def test_files_that_cannot_be_imported(
    db: Database, tmp_path: Path, content: str, problem: str
) -> None:
    with pytest.raises(InputError, match=problem) as caught:
        import_csv(db, _write(tmp_path, content), consented=True)
    assert caught.value.line == 1


def test_forgotten_people_cannot_be_imported_again(db: Database, tmp_path: Path) -> None:
    import_csv(db, _write(tmp_path, "email,name\nzoe@example.org,Zoé\n"), consented=True)
    with db.session() as session:
        forget(session, "ZOE@example.org")
    with db.session() as session:
        assert session.scalars(select(Subscriber)).all() == []
    report = import_csv(db, _write(tmp_path, "email,name\nZoe@Example.org,Zoé\n"), consented=True)
    assert report.created == 0 and report.suppressed == 1 and report.rejected_count == 0
    # Refused by line and reason only: the report keeps no new copy of the person's data.
    assert report.refused == [(2, "refused: on the suppression list (unsubscribed or erased)", {})]
    with db.session() as session, pytest.raises(SubscriberRowError, match="suppression list"):
        upsert(session, validate_row({"email": "zoe@example.org"}), consented=True, source="cli")


def test_unsubscribe_is_idempotent_and_suppresses(db: Database, tmp_path: Path) -> None:
    import_csv(db, _write(tmp_path, "email\nyan@example.org\n"), consented=True)
    with db.session() as session:
        assert unsubscribe(session, "yan@example.org") is True
    with db.session() as session:
        assert unsubscribe(session, "yan@example.org") is False
        assert count_segment(session, 'email = "yan@example.org"').mailable == 0


POPULATION = (
    "email,locale,country,topics,alerts,lists,status\n"
    "a@example.org,fr,BE,NSO Group;surveillance,true,press,subscribed\n"
    "b@example.org,fr_BE,BE,surveillance,true,,subscribed\n"
    "c@example.org,nl,BE,,false,,subscribed\n"
    "d@example.org,de,DE,death penalty,true,donors,subscribed\n"
    "e@example.org,en,GB,Surveillance,true,,unsubscribed\n"
    "f@example.org,,FR,,true,,subscribed\n"
    "g@example.org,nl_BE,BE,refugees;surveillance,true,press;donors,subscribed\n"
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            'locale in ("fr", "nl") and "surveillance" in topics and country = "BE" and alerts',
            {"a"},
        ),
        ('language = "fr"', {"a", "b"}),
        ('language != "fr"', {"c", "d", "e", "f", "g"}),
        ('locale != "fr"', {"b", "c", "d", "e", "f", "g"}),
        ("topics is empty", {"c", "f"}),
        ('topics has "SURVEILLANCE" and not "press" in lists', {"b", "e"}),
        ('lists in ("donors") or country = "fr"', {"d", "f", "g"}),
        ("not alerts", {"c"}),
        ("alerts = false", {"c"}),
        ('created_at > "2000-01-01" and country != "BE"', {"d", "e", "f"}),
        ('locale = "fr" or (country = "DE" and not topics is empty)', {"a", "d"}),
        ('name = "x\' or 1=1 --"', set()),
        ('"a%" in topics or "_" in lists', set()),
        ('country = "BE\'; DROP TABLE subscribers; --"', set()),
    ],
)
def test_segments_match_exactly_what_they_say(
    db: Database, tmp_path: Path, expression: str, expected: set[str]
) -> None:
    import_csv(db, _write(tmp_path, POPULATION), consented=True)
    with db.session() as session:
        from mailer.subscribers.segment_sql import segment_condition

        found = {
            e.split("@")[0]
            for e in session.scalars(select(Subscriber.email).where(segment_condition(expression)))
        }
        count = count_segment(session, expression)
    assert found == expected
    assert count.matching == len(expected)
    assert count.mailable == len(expected - {"e"})
    with db.session() as session:
        assert len(session.scalars(select(Subscriber.id)).all()) == 7  # nothing dropped


@pytest.mark.parametrize(
    ("expression", "column", "problem"),
    [
        ('locale = "fr" or 1=1 --', 22, "unexpected character '-'"),
        ('locale = "fr" or 1=1', 18, "expected a field"),
        ('lang = "fr"', 1, "unknown field 'lang'; valid fields: alert_pref, alerts"),
        ('locale = "fr"; DROP TABLE subscribers', 14, "unexpected character ';'"),
        ('locale = "fr', 10, "string not closed"),
        ("(alerts", 8, "expected ')'"),
        ('topics = "x"', 1, 'use "value" in topics'),
    ],
)
def test_bad_expressions_point_at_the_column(
    db: Database, expression: str, column: int, problem: str
) -> None:
    with db.session() as session, pytest.raises(SegmentError) as caught:
        count_segment(session, expression)
    assert str(caught.value).startswith(f"column {column}: ")
    assert problem in str(caught.value)


def test_parallel_reading_imports_the_same(db: Database, tmp_path: Path) -> None:
    report = import_csv(db, _write(tmp_path, MESSY), consented=True, parallel=True)
    assert sorted(line for line, _, _ in report.rejected) == [4, 7, 11]
    assert (report.created, report.updated) == (5, 1)
    with pytest.raises(InputError, match="no 'email' column"):
        import_csv(db, _write(tmp_path, "name\nx\n", "bad.csv"), consented=True, parallel=True)


def test_parallel_reading_hashes_for_the_suppression_list(db: Database, tmp_path: Path) -> None:
    # The reader process hashes the addresses: a forgotten one must still be refused.
    import_csv(db, _write(tmp_path, "email\nzoe@example.org\n"), consented=True)
    with db.session() as session:
        forget(session, "zoe@example.org")
    people = "email\nyann@example.org\nZOE@example.org\n"
    report = import_csv(db, _write(tmp_path, people), consented=True, parallel=True)
    assert report.created == 1 and [line for line, _, _ in report.refused] == [3]
    assert "suppression list" in report.refused[0][1] and report.refused[0][2] == {}


def test_bulk_settings_stay_with_the_import_connection(db: Database) -> None:
    from sqlalchemy import text

    if not db.is_sqlite:
        pytest.skip("SQLite page cache and checkpoint settings")
    with db.bulk_session() as session, session() as bulk:
        assert bulk.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 20000
        assert bulk.execute(text("PRAGMA cache_size")).scalar() == -32768
    with db.session() as other:  # the pool's connections keep SQLite's defaults
        assert other.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
        assert other.execute(text("PRAGMA cache_size")).scalar() == -2000
