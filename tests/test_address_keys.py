"""Two addresses stay two people (`straße@` is not `strasse@`), and nobody kept out before comes back."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, select, text

from mailer.store import Database, open_database
from mailer.store.db import MIGRATIONS
from mailer.store.models import Subscriber, Suppression
from mailer.subscribers.actions import forget
from mailer.subscribers.importer import import_csv
from mailer.subscribers.segments import count_segment
from mailer.subscribers.store import get_by_email

SALT = bytes(range(32))


def _write(tmp_path: Path, text_: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(text_, encoding="utf-8")
    return path


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    try:
        yield database
    finally:
        database.dispose()


def test_sharp_s_and_double_s_are_two_people(db: Database, tmp_path: Path) -> None:
    people = (
        "email,name\nstraße@example.org,Eins\nstrasse@example.org,Zwei\nSTRASSE@example.org,Drei\n"
    )
    report = import_csv(db, _write(tmp_path, people), consented=True)
    assert (report.created, report.updated) == (2, 1)  # case still does not make a person
    with db.session() as session:
        assert get_by_email(session, "Straße@example.org").name == "Eins"
        assert get_by_email(session, "strasse@example.org").name == "Drei"
        assert count_segment(session, 'email = "STRAßE@example.org"').mailable == 1
    # Forgetting one keeps the other, and keeps out only the one forgotten.
    with db.session() as session:
        forget(session, "strasse@example.org")
    with db.session() as session:
        assert get_by_email(session, "straße@example.org").name == "Eins"
        forget(session, "straße@example.org")
    again = import_csv(
        db, _write(tmp_path, "email\nstraße@example.org\nstrasse@example.org\n"), consented=True
    )
    assert again.created == 0 and again.suppressed == 2 and again.rejected_count == 0


def _legacy_database(url: str) -> None:
    """A database of schema 0001, with keys and hashes made the old way (casefold)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")

    def digest(key: str) -> str:
        return hmac.digest(SALT, key.encode(), "sha256").hex()

    rows = [
        # (email as stored, status): keys were the case-folded address.
        ("Weiß@example.org", "unsubscribed"),  # left, and suppressed
        ("große@example.org", "subscribed"),
        ("ana@example.org", "subscribed"),
    ]
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO meta (key, value) VALUES ('suppression_salt', :v)"),
            {"v": SALT.hex()},
        )
        for email, status in rows:
            connection.execute(
                text(
                    "INSERT INTO subscribers (email, email_key, email_hash, name, topics, "
                    "topic_keys, list_keys, alert_pref, lists, status, attributes, created_at, "
                    "updated_at) VALUES (:email, :key, :hash, '', '[]', '', '', 'alerts', '[]', "
                    ":status, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {
                    "email": email,
                    "key": email.casefold(),
                    "hash": digest(email.casefold()),
                    "status": status,
                },
            )
        for key, reason in (
            ("weiss@example.org", "unsubscribed"),  # Weiß@, unsubscribed
            ("fuss@example.org", "erased"),  # Fuß@ (or fuss@), forgotten: no row left
        ):
            connection.execute(
                text(
                    "INSERT INTO suppressions (email_hash, reason, created_at) "
                    "VALUES (:hash, :reason, CURRENT_TIMESTAMP)"
                ),
                {"hash": digest(key), "reason": reason},
            )
    engine.dispose()


def test_a_database_of_before_keeps_out_whom_it_kept_out(database_url: str, tmp_path: Path) -> None:
    _legacy_database(database_url)
    db = open_database(database_url)  # migrates to head: 0006 re-keys
    try:
        with db.session() as session:
            weiss = get_by_email(session, "weiß@example.org")
            assert weiss.email_key == "weiß@example.org" and weiss.status == "unsubscribed"
            assert get_by_email(session, "GROSSE@example.org".replace("SS", "ß")).email_key == (
                "große@example.org"
            )
            # The re-keyed unsubscriber is suppressed under the new hash too (planning joins it).
            assert (
                session.scalars(
                    select(Suppression.reason).where(Suppression.email_hash == weiss.email_hash)
                ).one()
                == "unsubscribed"
            )
        people = (
            "email\n"
            "fuß@example.org\n"  # 2: forgotten under the old key: refused
            "fuss@example.org\n"  # 3: the old key itself: refused
            "weiss@example.org\n"  # 4: the old hash is a legacy row: refused
            "neu@example.org\n"  # 5: nobody: created
            "große@example.org\n"  # 6: found by its new key: updated, not duplicated
        )
        report = import_csv(db, _write(tmp_path, people), consented=True)
        assert sorted(line for line, _, _ in report.refused) == [2, 3, 4]
        assert (report.created, report.updated) == (1, 1)
        with db.session() as session:
            assert len(session.scalars(select(Subscriber.id)).all()) == 4
        # A suppression made from now on keeps out only its own address.
        with db.session() as session:
            forget(session, "neu@example.org")
        report = import_csv(db, _write(tmp_path, "email\nneu@example.org\n"), consented=True)
        assert report.suppressed == 1
    finally:
        db.dispose()


def test_a_punycode_domain_and_its_unicode_form_are_one_person(
    db: Database, tmp_path: Path
) -> None:
    from mailer.subscribers.validate import normalise_email

    assert normalise_email("Victim@XN--exmple-cua.org") == "Victim@exämple.org"
    first = import_csv(db, _write(tmp_path, "email\nvictim@exämple.org\n"), consented=True)
    assert first.created == 1
    with db.session() as session:
        forget(session, "victim@exämple.org")  # erased: kept out under either spelling
    again = import_csv(
        db,
        _write(tmp_path, "email\nvictim@xn--exmple-cua.org\nvictim@exämple.org\n"),
        consented=True,
    )
    assert again.created == 0 and again.suppressed == 2


def test_subscribers_stored_with_a_punycode_domain_are_rewritten(
    database_url: str, tmp_path: Path
) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(database_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")

    def digest(key: str) -> str:
        return hmac.digest(SALT, key.encode(), "sha256").hex()

    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO meta (key, value) VALUES ('suppression_salt', :v)"),
            {"v": SALT.hex()},
        )
        for email, status in (
            ("left@xn--exmple-cua.org", "unsubscribed"),  # stored as typed, suppressed
            ("stays@example.org", "subscribed"),
        ):
            connection.execute(
                text(
                    "INSERT INTO subscribers (email, email_key, email_hash, name, topics, "
                    "topic_keys, list_keys, alert_pref, lists, status, attributes, created_at, "
                    "updated_at) VALUES (:email, :email, :hash, '', '[]', '', '', 'alerts', "
                    "'[]', :status, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"email": email, "hash": digest(email), "status": status},
            )
        connection.execute(
            text(
                "INSERT INTO suppressions (email_hash, reason, created_at, key_form) "
                "VALUES (:hash, 'unsubscribed', CURRENT_TIMESTAMP, 'lower')"
            ),
            {"hash": digest("left@xn--exmple-cua.org")},
        )
    engine.dispose()
    db = open_database(database_url)  # migrates to head: 0008 rewrites the domain
    try:
        with db.session() as session:
            left = get_by_email(session, "left@xn--exmple-cua.org")  # typed either way
            assert (left.email, left.email_key) == ("left@exämple.org", "left@exämple.org")
            assert get_by_email(session, "stays@example.org").email == "stays@example.org"
        report = import_csv(db, _write(tmp_path, "email\nleft@exämple.org\n"), consented=True)
        assert report.created == 0 and report.suppressed == 1
    finally:
        db.dispose()
