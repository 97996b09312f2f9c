"""The way back, and only one: `subscribers resubscribe` records the consent; add and import never resubscribe."""

from __future__ import annotations

import csv
import json
import mailbox
import sqlite3
from pathlib import Path

from tests.conftest import EXAMPLES, Workdir


def _show(workdir: Workdir, email: str) -> dict[str, object]:
    return json.loads(workdir.run("subscribers", "show", email, "--json").stdout)  # type: ignore[no-any-return]


def _suppressions(workdir: Workdir) -> list[str]:
    with sqlite3.connect(workdir.path / "mailer.db") as connection:
        return [r[0] for r in connection.execute("SELECT reason FROM suppressions")]


def _recipients(workdir: Workdir) -> list[str]:
    box = mailbox.Maildir(workdir.path / "outbox", create=False)
    return [str(message["To"]) for message in box]


def test_an_unsubscribed_person_comes_back_only_through_resubscribe(workdir: Workdir) -> None:
    workdir.run("subscribers", "add", "ana@example.org", "--name", "Ana", "--consented")
    workdir.run("subscribers", "unsubscribe", "ana@example.org")
    assert _suppressions(workdir) == ["unsubscribed"]
    again = workdir.run("subscribers", "add", "ANA@example.org", "--consented", check=False)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.count("\n") == 1
    assert "ana@example.org is unsubscribed: nothing changed" in again.stderr
    assert "mailer subscribers resubscribe ana@example.org --source" in again.stderr
    assert _show(workdir, "ana@example.org")["status"] == "unsubscribed"

    result = workdir.run(
        "subscribers", "resubscribe", "ana@example.org", "--source", "email of 2026-12-01 to info@"
    )
    assert "resubscribed ana@example.org (was unsubscribed)" in result.stdout
    shown = _show(workdir, "ana@example.org")
    assert shown["status"] == "subscribed" and shown["name"] == "Ana"
    assert shown["consent_source"] == "email of 2026-12-01 to info@" and shown["consent_at"]
    assert _suppressions(workdir) == []  # lifted: planning and sending check it
    workdir.run("statements", "import", str(EXAMPLES / "statements"), "--publish")
    assert _recipients(workdir) == ["Ana <ana@example.org>"]
    twice = workdir.run("subscribers", "resubscribe", "ana@example.org", "--source", "again")
    assert "already subscribed: nothing changed" in twice.stdout


def test_a_complaint_needs_force_and_says_why(workdir: Workdir) -> None:
    people = workdir.path / "people.csv"
    people.write_text("email\nbo@example.org\ncy@example.org\n", encoding="utf-8")
    workdir.run("subscribers", "import", str(people), "--consented")
    people.write_text("email,status\nbo@example.org,complained\ncy@example.org,bounced\n", "utf-8")
    workdir.run("subscribers", "import", str(people))
    refused = workdir.run(
        "subscribers", "resubscribe", "bo@example.org", "--source", "phone call", check=False
    )
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "reported one of your emails as spam" in refused.stderr and "--force" in refused.stderr
    assert _show(workdir, "bo@example.org")["status"] == "complained"
    added = workdir.run("subscribers", "add", "bo@example.org", check=False)
    assert added.returncode == 1 and "is complained: nothing changed" in added.stderr
    assert "--force" in added.stderr
    workdir.run("subscribers", "resubscribe", "bo@example.org", "--source", "phone call", "--force")
    assert _show(workdir, "bo@example.org")["status"] == "subscribed"
    bounced = workdir.run("subscribers", "resubscribe", "cy@example.org", "--source", "new inbox")
    assert "(was bounced)" in bounced.stdout


def test_erased_pending_and_unknown_people_are_refused_with_a_reason(workdir: Workdir) -> None:
    workdir.run("subscribers", "add", "dee@example.org", "--consented")
    workdir.run("subscribers", "forget", "dee@example.org")
    erased = workdir.run(
        "subscribers", "resubscribe", "dee@example.org", "--source", "asked", check=False
    )
    assert erased.returncode == 1 and "was erased" in erased.stderr
    assert "only their own signup" in erased.stderr
    workdir.run("subscribers", "add", "eve@example.org")  # pending: a confirmation is sent
    pending = workdir.run(
        "subscribers", "resubscribe", "eve@example.org", "--source", "asked", check=False
    )
    assert pending.returncode == 1 and "is pending" in pending.stderr
    unknown = workdir.run(
        "subscribers", "resubscribe", "fay@example.org", "--source", "asked", check=False
    )
    assert unknown.returncode == 1 and "no subscriber" in unknown.stderr
    blank = workdir.run(
        "subscribers", "resubscribe", "eve@example.org", "--source", "  ", check=False
    )
    assert blank.returncode == 1 and "--source" in blank.stderr
    missing = workdir.run("subscribers", "resubscribe", "eve@example.org", check=False)
    assert missing.returncode == 2  # --source is required


def test_import_counts_suppressed_rows_apart_and_writes_no_data_of_them(
    workdir: Workdir,
) -> None:
    original = workdir.path / "subs.csv"
    original.write_text(
        "email,name,locale\n"
        "gus@example.org,Gustave Secret,fr\n"
        "hal@example.org,Hal,en\n"
        "ida@example.org,Ida,nl\n",
        encoding="utf-8",
    )
    workdir.run("subscribers", "import", str(original), "--consented")
    workdir.run("subscribers", "forget", "gus@example.org")
    workdir.run("subscribers", "unsubscribe", "hal@example.org")
    result = workdir.run("subscribers", "import", str(original), "--consented")
    assert "accepted 1 (created 0, updated 1), rejected 0, refused 2 as suppressed" in result.stdout
    rejected = workdir.path / "subs.rejected.csv"
    text = rejected.read_text(encoding="utf-8")
    assert "gus@" not in text and "Gustave" not in text and "hal@" not in text
    rows = list(csv.DictReader(text.splitlines()))
    assert [(r["line"], r["email"], r["name"]) for r in rows] == [("2", "", ""), ("3", "", "")]
    assert "suppression list" in rows[0]["reason"] and "unsubscribed" in rows[1]["reason"]
    assert "gus@" not in result.stderr and "Gustave" not in result.stderr
    assert _show(workdir, "hal@example.org")["name"] == "Hal"  # not rewritten either

    with_bad = workdir.path / "more.csv"
    with_bad.write_text("email\nhal@example.org\nnot-an-address\n", encoding="utf-8")
    failed = workdir.run("subscribers", "import", str(with_bad), check=False)
    assert failed.returncode == 1  # a rejected row is an error; a suppressed one is not
    assert "rejected 1, refused 1 as suppressed (unsubscribed," in failed.stdout
    assert (workdir.path / "more.rejected.csv").read_text(encoding="utf-8").count("\n") == 3
    assert "more.rejected.csv" in failed.stderr


def test_the_help_names_the_rejected_file_as_it_is_written(workdir: Workdir) -> None:
    result = workdir.run("subscribers", "import", "--help")
    assert "NAME.rejected.csv" in " ".join(result.stdout.split())


def test_lifting_an_entry_of_before_keeps_out_the_other_spelling(tmp_path: Path) -> None:
    from mailer.store.db import open_database
    from mailer.store.models import Subscriber, Suppression
    from mailer.subscribers.actions import resubscribe
    from mailer.subscribers.suppression import address_hash, hasher, is_suppressed
    from mailer.subscribers.validate import email_key

    db = open_database(f"sqlite:///{tmp_path}/m.db")
    try:
        with db.session() as session:
            salt = hasher(session)
            # Schema 0001 hashed the case-folded address: one entry kept out fuß@ and fuss@.
            session.add(
                Suppression(
                    email_hash=address_hash(salt, "fuss@example.org"),
                    reason="unsubscribed",
                    key_form=None,
                )
            )
            key = email_key("fuß@example.org")
            session.add(
                Subscriber(
                    email="fuß@example.org",
                    email_key=key,
                    email_hash=address_hash(salt, key),
                    status="unsubscribed",
                )
            )
        with db.session() as session:
            assert is_suppressed(session, "fuß@example.org") == "unsubscribed"
            assert resubscribe(session, "fuß@example.org", source="asked") == "unsubscribed"
        with db.session() as session:
            assert is_suppressed(session, "fuß@example.org") is None
            assert is_suppressed(session, "fuss@example.org") == "unsubscribed"
    finally:
        db.dispose()
