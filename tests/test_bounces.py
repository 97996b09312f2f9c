"""Reports after the relay said yes: each format read, matched and recorded, on a real
campaign sent through a real (in-process) worker, against the real database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.bounces.record import Recorder
from mailer.bounces.verp import Verp
from mailer.campaigns.status import campaign_status
from mailer.store.models import (
    BounceEvent,
    Campaign,
    Delivery,
    InboundReport,
    Subscriber,
    Suppression,
)
from mailer.subscribers.actions import forget, why
from mailer.subscribers.suppression import is_suppressed
from tests.bounce_samples import Sent, sample, sent_messages
from tests.inprocess import EXAMPLES, InProcess

PEOPLE = (
    "email,name,locale,topics\n"
    "ana@example.net,Ana,fr,\n"
    "bert@example.net,Bert,nl,\n"
    "carl@example.net,Carl,de,\n"
    "dora@example.net,Dora,en,\n"
    "emil@example.net,Emil,fr,\n"
    "fien@example.net,Fien,nl,\n"
    "gus@example.net,Gus,fr,\n"
    "hana@example.net,Hana,de,\n"
)
UTC = dt.UTC


@pytest.fixture
def run(tmp_path: Path) -> Iterator[InProcess]:
    run = InProcess(tmp_path)
    run.statements(
        "nso-export-licence.fr.txt",
        "nso-export-licence.nl.md",
        "nso-export-licence.en.md",
        "nso-export-licence.de.md",
    )
    run.people(PEOPLE)
    yield run
    run.rt.close()


def _sent(run: InProcess) -> dict[str, Sent]:
    outbox = run.transport.outbox
    return sent_messages([(s.envelope_from, s.recipient, s.message) for s in outbox])


def _feed(run: InProcess, raw: bytes, now: dt.datetime | None = None) -> str:
    with run.rt.db.session() as session:
        recorder = Recorder.of(run.rt, session, source="inbound")
        return recorder.record(raw, now=now).line


def _message_id(raw: bytes) -> str:
    found = re.search(rb"(?im)^Message-ID:\s*(<[^>]+>)", raw)
    assert found is not None
    return found.group(1).decode()


def _status(run: InProcess, email: str) -> str:
    with run.rt.db.session() as session:
        return session.scalars(select(Subscriber.status).where(Subscriber.email == email)).one()


def _events(run: InProcess, email: str | None = None) -> list[BounceEvent]:
    with run.rt.db.session() as session:
        query = select(BounceEvent).order_by(BounceEvent.id)
        if email is not None:
            query = query.join(Subscriber, Subscriber.id == BounceEvent.subscriber_id).where(
                Subscriber.email == email
            )
        return list(session.scalars(query))


def test_every_message_goes_out_with_its_own_verp_sender(run: InProcess) -> None:
    status = run.send("nso-export-licence-fr")
    verp = Verp(run.settings.secret_key)
    with run.rt.db.session() as session:
        ids = {email: i for email, i in session.execute(select(Subscriber.email, Subscriber.id))}
    senders = set()
    for sent in run.transport.outbox:
        local, _, domain = sent.envelope_from.partition("@")
        assert domain == "example.org" and local.startswith("bounces+")
        assert len(local) <= 64  # RFC 5321 4.5.3.1.1
        token = local.removeprefix("bounces+")
        assert re.fullmatch(r"[a-z2-7]{26}", token)
        assert verp.read(token) == (status["id"], ids[sent.recipient])
        senders.add(sent.envelope_from)
    assert len(senders) == len(run.transport.outbox) == status["sent"] == 8
    # Opaque: consecutive subscriber ids give unrelated tokens (as random strings would).
    tokens = [s.split("+")[1].split("@")[0] for s in senders]
    for a in tokens:
        for b in tokens:
            if a != b:
                assert sum(x == y for x, y in zip(a, b, strict=True)) <= 8


def test_hard_dsn_bounces_and_suppresses_once(run: InProcess) -> None:
    run.send("nso-export-licence-fr")
    ana = _sent(run)["ana@example.net"]
    raw = sample("dsn-hard-gmail.txt", ana)
    line = _feed(run, raw)
    assert line.startswith("delivery status notification: bounced: 5.1.1")
    assert "matched by verp" in line and "ana@" not in line  # the line names no address
    assert _status(run, "ana@example.net") == "bounced"
    with run.rt.db.session() as session:
        assert is_suppressed(session, "ana@example.net") == "bounced"
        suppressions = session.scalar(select(func.count()).select_from(Suppression))
    # The same report again (a second fetch, a redelivery) changes nothing.
    again = _feed(run, raw)
    assert again.startswith("already read: ")
    with run.rt.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == suppressions
    events = _events(run, "ana@example.net")
    assert [(e.kind, e.effect, e.status, e.code) for e in events] == [
        ("hard", "bounced", "5.1.1", 550)
    ]
    assert events[0].campaign_id == ana.campaign and events[0].matched_by == "verp"
    assert "does not exist" in (events[0].diagnostic or "")
    # The ledger row stays as the ledger wrote it.
    with run.rt.db.session() as session:
        row = session.scalars(
            select(Delivery)
            .where(Delivery.campaign_id == ana.campaign)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Subscriber.email == "ana@example.net")
        ).one()
        assert row.status == "sent"
        answer = why(session, "ana@example.net", ana.campaign)
    assert answer["events"][0]["kind"] == "hard"
    assert (
        "then a hard report 5.1.1" in answer["explanation"] and "bounced" in answer["explanation"]
    )


FORMATS = [
    ("dsn-hard-gmail.txt", "bounced", "hard"),
    ("exchange-office365.txt", "bounced", "hard"),
    ("qmail.txt", "bounced", "hard"),
    ("qmail-remote.txt", "bounced", "hard"),
    ("exim.txt", "bounced", "hard"),
    ("sendmail-old.txt", "bounced", "hard"),
    ("exchange-2003.txt", "bounced", "hard"),
    ("arf-abuse-yahoo.txt", "complained", "complaint"),
    ("dsn-soft-mailbox-full.txt", "subscribed", "soft"),
    ("dsn-delayed.txt", "subscribed", "soft"),
    ("dsn-content-5.7.1.txt", "subscribed", "policy"),
    ("dsn-blocklist.txt", "subscribed", "policy"),
    ("dsn-dmarc.txt", "subscribed", "policy"),
    ("autoreply-fr.txt", "subscribed", "auto-reply"),
    ("autoreply-de.txt", "subscribed", "auto-reply"),
    ("autoreply-nl.txt", "subscribed", "auto-reply"),
    ("autoreply-en-precedence.txt", "subscribed", "auto-reply"),
    ("autoreply-ar.txt", "subscribed", "auto-reply"),
]


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    """One campaign to one person per format (each case reports on its own person)."""
    run = InProcess(tmp_path_factory.mktemp("formats"))
    run.statements("nso-export-licence.fr.txt")
    run.people(
        "email,name,locale\n" + "".join(f"p{n}@example.net,P{n},fr\n" for n in range(len(FORMATS)))
    )
    run.send("nso-export-licence-fr")
    yield run
    run.rt.close()


@pytest.mark.parametrize(
    ("index", "name", "status", "kind"), [(i, *f) for i, f in enumerate(FORMATS)]
)
def test_each_format_does_what_it_means(
    many: InProcess, index: int, name: str, status: str, kind: str
) -> None:
    person = f"p{index}@example.net"
    sent = _sent(many)[person]
    before = len(_events(many))
    line = _feed(many, sample(name, sent))
    assert _status(many, person) == status, line
    events = _events(many, person)
    assert [e.kind for e in events] == [kind], line
    assert events[0].campaign_id == sent.campaign
    assert len(_events(many)) == before + 1  # about this person only
    if kind == "complaint":
        with many.rt.db.session() as session:
            assert is_suppressed(session, person) == "complained"
            row = session.scalars(select(Subscriber).where(Subscriber.email == person)).one()
            assert row.attributes["unsubscribed_via"] == "complaint"
    if status == "subscribed":
        with many.rt.db.session() as session:
            assert is_suppressed(session, person) is None


def test_a_report_finds_its_delivery_without_verp(run: InProcess) -> None:
    run.send("nso-export-licence-fr")
    sent = _sent(run)
    # By the Message-ID in the returned headers (the report went to the plain address).
    carl = sent["carl@example.net"]
    plain = Sent("bounces@example.org", carl.recipient, carl.message_id, carl.campaign)
    assert "matched by message-id" in _feed(run, sample("dsn-hard-gmail.txt", plain))
    assert _status(run, "carl@example.net") == "bounced"
    # By the Message-ID even when the final recipient is another address (a forward).
    dora = sent["dora@example.net"]
    forward = Sent("bounces@example.org", dora.recipient, dora.message_id, dora.campaign)
    line = _feed(run, sample("dsn-hard-gmail.txt", forward, recipient="dora.old@example.com"))
    assert "matched by message-id" in line and _status(run, "dora@example.net") == "bounced"
    # An ARF report whose provider redacted the recipient: by the original's Message-ID.
    emil = sent["emil@example.net"]
    redacted = Sent("fbl@example.org", emil.recipient, emil.message_id, emil.campaign)
    assert "matched by" in _feed(run, sample("arf-abuse-redacted.txt", redacted))
    assert _status(run, "emil@example.net") == "complained"
    # By the recipient's address alone (a bounce that returns nothing of our message): kept
    # against her, never acted on, since anyone could have written it.
    fien = sent["fien@example.net"]
    bare = Sent("bounces@example.org", fien.recipient, "<none@elsewhere.example>", 0)
    line = _feed(run, sample("qmail.txt", bare))
    assert "matched by address" in line and "not acted on" in line
    assert _status(run, "fien@example.net") == "subscribed"
    events = {(e.matched_by, e.effect) for e in _events(run)}
    assert events == {
        ("message-id", "bounced"),
        ("message-id", "complained"),
        ("address", "unverified"),
    }


@pytest.mark.parametrize(
    ("name", "message_id"),
    [
        ("dsn-hard-gmail.txt", "<none@elsewhere.example>"),
        ("qmail.txt", "<1.000000000000000000000000@example.org>"),  # our form, a made-up digest
        ("dsn-delayed.txt", "<none@elsewhere.example>"),
        ("arf-abuse-yahoo.txt", "<confirm.000000000000.000000000000000000000000@example.org>"),
    ],
)
def test_a_forged_report_naming_a_person_cuts_nobody_off(
    run: InProcess, name: str, message_id: str
) -> None:
    # A stranger who knows an activist's address writes a bounce or a complaint about it to
    # the plain bounce address: no VERP token, no Message-ID of ours.
    run.send("nso-export-licence-fr")
    ana = _sent(run)["ana@example.net"]
    forged = Sent("bounces@example.org", ana.recipient, message_id, ana.campaign)
    line = _feed(run, sample(name, forged))
    assert "not acted on" in line, line
    assert _status(run, "ana@example.net") == "subscribed"
    with run.rt.db.session() as session:
        assert is_suppressed(session, "ana@example.net") is None
        assert campaign_status(session, ana.campaign)["bounced"] == 0
    assert {e.effect for e in _events(run, "ana@example.net")} == {"unverified"}


def test_a_report_that_matches_nobody_is_kept_and_listed(run: InProcess) -> None:
    run.send("nso-export-licence-fr")
    from mailer.bounces.listing import list_events

    # An address nobody has, an ARF about someone else's mail, and a person we never mailed.
    run.people("email,name,locale\nivo@example.net,Ivo,fr\n")
    lines = [
        _feed(run, sample("dsn-hard-gmail.txt", None, recipient="nobody@example.net")),
        _feed(run, sample("arf-not-ours.txt", None)),
        _feed(run, sample("dsn-hard-gmail.txt", None, recipient="ivo@example.net")),
    ]
    assert all("kept unmatched" in line for line in lines), lines
    assert "never mailed" in lines[2]
    assert _status(run, "ivo@example.net") == "subscribed"
    with run.rt.db.session() as session:
        listed = list_events(session, unmatched=True)
    assert [e["recipient"] for e in listed] == [
        "ivo@example.net",
        "stranger@example.net",
        "nobody@example.net",
    ]
    assert all(e["email"] is None and not e["matched"] for e in listed)


def test_a_forged_verp_token_matches_nothing(run: InProcess) -> None:
    run.send("nso-export-licence-fr")
    gus = _sent(run)["gus@example.net"]
    token = gus.envelope_from.split("+")[1].split("@")[0]
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")
    forged = Sent(f"bounces+{flipped}@example.org", gus.recipient, "<x@elsewhere>", gus.campaign)
    other_key = Verp("another secret").token(gus.campaign, 1)
    foreign = Sent(f"bounces+{other_key}@example.org", gus.recipient, "<x@elsewhere>", gus.campaign)
    for raw in (sample("dsn-hard-gmail.txt", forged), sample("dsn-hard-gmail.txt", foreign)):
        line = _feed(run, raw)
        # Not matched by the token; the address alone finds the person, and is not enough.
        assert "matched by address" in line and "not acted on" in line
    assert _status(run, "gus@example.net") == "subscribed"


def _more_campaigns(run: InProcess, first: int, sent_at: list[dt.datetime]) -> list[int]:
    """Copies of a sent campaign, as the ledger would hold them, sent at the given times."""
    ids = []
    with run.rt.db.session() as session:
        original = session.get(Campaign, first)
        assert original is not None
        rows = list(session.scalars(select(Delivery).where(Delivery.campaign_id == first)))
        for when in sent_at:
            copy = Campaign(
                kind="manual",
                statement_id=original.statement_id,
                translation_key=original.translation_key,
                state="done",
            )
            session.add(copy)
            session.flush()
            ids.append(copy.id)
            for row in rows:
                session.add(
                    Delivery(
                        campaign_id=copy.id,
                        subscriber_id=row.subscriber_id,
                        locale=row.locale,
                        statement_id=row.statement_id,
                        status="sent",
                        message_id=f"<{copy.id}.x@example.org>",
                        sent_at=when,
                    )
                )
    return ids


def test_soft_bounces_add_up_over_days_and_a_delivery_resets_them(run: InProcess) -> None:
    day = dt.datetime(2026, 12, 1, 9, tzinfo=UTC)
    first = run.send("nso-export-licence-fr")["id"]
    with run.rt.db.session() as session:
        session.query(Delivery).filter(Delivery.campaign_id == first).update({"sent_at": day})
    campaigns = [
        first,
        *_more_campaigns(run, first, [day + dt.timedelta(days=d) for d in (4, 8, 12)]),
    ]
    verp = Verp(run.settings.secret_key)
    with run.rt.db.session() as session:
        hana, ana = (
            session.scalars(select(Subscriber.id).where(Subscriber.email == e)).one()
            for e in ("hana@example.net", "ana@example.net")
        )

    def soft(person: int, campaign: int, when: dt.datetime) -> str:
        sender = f"bounces+{verp.token(campaign, person)}@example.org"
        raw = sample("dsn-soft-mailbox-full.txt", Sent(sender, "x@example.net", "<a@b>", campaign))
        unique = raw.replace(b"Message-Id: <2026", f"Message-Id: <{when:%s}".encode())
        return _feed(run, unique, when)

    # Hana: campaigns 1, 2 and 3 soft-bounce (sent days 0, 4 and 8): bounced at the third.
    assert "soft bounce 1 of 3" in soft(hana, campaigns[0], day + dt.timedelta(hours=5))
    # The same message reported twice (delayed, then failed) is one soft bounce.
    assert "soft bounce 1 of 3" in soft(hana, campaigns[0], day + dt.timedelta(days=2))
    assert "soft bounce 2 of 3" in soft(hana, campaigns[1], day + dt.timedelta(days=5))
    # A stranger's "delivered" report naming her address does not start the count again.
    forged = sample(
        "dsn-delivered.txt", Sent("bounces@example.org", "hana@example.net", "<x@elsewhere>", 0)
    )
    assert "not acted on" in _feed(run, forged, day + dt.timedelta(days=6))
    assert _status(run, "hana@example.net") == "subscribed"
    third = soft(hana, campaigns[2], day + dt.timedelta(days=9))
    assert "bounced after 3 soft bounces over 8 days" in third
    assert _status(run, "hana@example.net") == "bounced"
    # Ana: campaigns 1, 3 and 4 soft-bounce, but campaign 2 (day 4) brought nothing back
    # for more than a week: it was delivered, and the count starts again after it.
    soft(ana, campaigns[0], day + dt.timedelta(hours=5))
    assert "soft bounce 1 of 3" in soft(ana, campaigns[2], day + dt.timedelta(days=13))
    assert "soft bounce 2 of 3" in soft(ana, campaigns[3], day + dt.timedelta(days=14))
    assert _status(run, "ana@example.net") == "subscribed"
    # Three soft bounces within a few days are not enough: they must span the days too.
    with run.rt.db.session() as session:
        gus = session.scalars(
            select(Subscriber.id).where(Subscriber.email == "gus@example.net")
        ).one()
    quick = _more_campaigns(run, first, [day + dt.timedelta(days=20, hours=h) for h in (0, 1, 2)])
    for index, campaign in enumerate(quick):
        line = soft(gus, campaign, day + dt.timedelta(days=21, hours=index))
    assert "soft bounce 3 of 3" in line and _status(run, "gus@example.net") == "subscribed"


def test_soft_bounce_limits_come_from_the_profile(tmp_path: Path) -> None:
    profile = (
        (EXAMPLES / "mailer.toml")
        .read_text(encoding="utf-8")
        .replace(
            'timezone = "Europe/Brussels"\n',
            'timezone = "Europe/Brussels"\nsoft_bounce_limit = 1\nsoft_bounce_days = 0\n',
        )
    )
    (tmp_path / "org.toml").write_text(profile, encoding="utf-8")
    run = InProcess(tmp_path, org_file=tmp_path / "org.toml")
    run.statements("nso-export-licence.fr.txt")
    run.people("email,name,locale\nana@example.net,Ana,fr\n")
    run.send("nso-export-licence-fr")
    ana = _sent(run)["ana@example.net"]
    assert "bounced after 1 soft bounces" in _feed(run, sample("dsn-soft-mailbox-full.txt", ana))
    assert _status(run, "ana@example.net") == "bounced"
    run.rt.close()


def test_campaign_status_counts_bounced_and_complained_per_locale(run: InProcess) -> None:
    campaign = run.send("nso-export-licence-fr")["id"]
    sent = _sent(run)
    _feed(run, sample("dsn-hard-gmail.txt", sent["ana@example.net"]))  # fr
    _feed(run, sample("qmail.txt", sent["gus@example.net"]))  # fr
    _feed(run, sample("arf-abuse-yahoo.txt", sent["bert@example.net"]))  # nl
    _feed(run, sample("dsn-content-5.7.1.txt", sent["carl@example.net"]))  # de
    _feed(run, sample("dsn-delayed.txt", sent["dora@example.net"]))  # en
    with run.rt.db.session() as session:
        status = campaign_status(session, campaign)
    assert (status["bounced"], status["complained"], status["refused"]) == (2, 1, 1)
    assert status["soft_bounced"] == 1
    by_locale = status["by_locale"]
    assert by_locale["fr"]["bounced"] == 2 and by_locale["nl"]["complained"] == 1
    assert by_locale["de"]["refused"] == 1 and by_locale["en"]["soft_bounced"] == 1
    assert by_locale["de"]["bounced"] == 0
    assert status["sent"] == 8  # the ledger's counts are what they were


def test_forget_erases_the_persons_events_too(run: InProcess) -> None:
    run.send("nso-export-licence-fr")
    sent = _sent(run)
    _feed(run, sample("dsn-delayed.txt", sent["ana@example.net"]))
    _feed(run, sample("autoreply-fr.txt", sent["ana@example.net"]))
    # An unmatched report about her address, from before she subscribed, is hers too.
    _feed(run, sample("arf-not-ours.txt", None, recipient="Ana@Example.net"))
    _feed(run, sample("dsn-delayed.txt", sent["bert@example.net"]))
    assert len(_events(run)) == 4
    with run.rt.db.session() as session:
        forget(session, "ana@example.net")
    remaining = _events(run)
    assert len(remaining) == 1 and remaining[0].recipient is None
    with run.rt.db.session() as session:
        outcomes = list(session.scalars(select(InboundReport.outcome)))
    assert outcomes and not any("ana" in o.lower() for o in outcomes)


def test_mailto_unsubscribe_and_strangers_mail(run: InProcess) -> None:
    run.send("nso-export-licence-fr")
    token = run.rt.signer.sign(1, "unsubscribe")
    raw = f"From: x@example.net\r\nTo: unsubscribe@example.org\r\nSubject: unsubscribe {token}\r\n\r\n"
    assert _feed(run, raw.encode()) == "unsubscribed"
    forged = raw.replace(token, token[:-2] + "xx")
    assert _feed(run, forged.encode()) == "ignored: the token is not valid"
    human = sample("human-reply.txt", None)
    assert _feed(run, human) == "ignored: not a report"


@pytest.fixture
def on_database(tmp_path: Path, database_url: str) -> Iterator[InProcess]:
    """The same campaign, its ledger on SQLite or on PostgreSQL."""
    import dataclasses

    from mailer.runtime import build_runtime

    run = InProcess(tmp_path)
    run.rt.close()
    run.settings = dataclasses.replace(run.settings, database_url=database_url)
    run.rt = build_runtime(run.settings, transport=run.transport)
    run.statements("nso-export-licence.fr.txt")
    run.people(PEOPLE)
    run.send("nso-export-licence-fr")
    yield run
    run.rt.close()


def test_recording_on_each_database(on_database: InProcess) -> None:
    run = on_database
    sent = _sent(run)
    with run.rt.db.session() as session:
        recorder = Recorder.of(run.rt, session, source="mailbox", isolate=False)
        batch = [
            (sample("dsn-hard-gmail.txt", sent["ana@example.net"]), None),
            (sample("arf-abuse-yahoo.txt", sent["bert@example.net"]), None),
            (sample("dsn-soft-mailbox-full.txt", sent["carl@example.net"]), None),
            (sample("autoreply-de.txt", sent["hana@example.net"]), None),
            (sample("dsn-hard-gmail.txt", sent["ana@example.net"]), None),  # twice in one batch
        ]
        lines = [r.line for r in recorder.record_many(batch)]
    assert lines[4] == "already read"
    with run.rt.db.session() as session:
        status = campaign_status(session, sent["ana@example.net"].campaign)
    assert (status["bounced"], status["complained"], status["soft_bounced"]) == (1, 1, 1)
    assert [_status(run, f"{n}@example.net") for n in ("ana", "bert", "carl", "hana")] == [
        "bounced",
        "complained",
        "subscribed",
        "subscribed",
    ]
    assert len(_events(run)) == 4


def test_two_readers_of_one_report_record_it_once(on_database: InProcess) -> None:
    run = on_database
    if run.rt.db.is_sqlite:
        pytest.skip("SQLite has one writer: a second reader waits, or fails and retries later")
    import threading

    raw = sample("dsn-hard-gmail.txt", _sent(run)["dora@example.net"])
    barrier = threading.Barrier(2)
    lines: list[str] = []

    def read() -> None:
        with run.rt.db.session() as session:
            recorder = Recorder.of(run.rt, session, source="inbound")
            barrier.wait(10)
            lines.append(recorder.record(raw).line)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(line.startswith("already read") for line in lines) == 1, lines
    assert sum(line.startswith("delivery status notification: bounced") for line in lines) == 1
    assert len(_events(run, "dora@example.net")) == 1


def test_a_bounced_confirmation_email_bounces_the_pending_address(run: InProcess) -> None:
    from mailer.subscribers.confirm import send_confirmations
    from mailer.subscribers.store import upsert
    from mailer.subscribers.validate import validate_row

    with run.rt.db.session() as session:
        data = validate_row({"email": "new@example.net"})
        person = upsert(session, data, consented=False, source="test")
        person_id = person.subscriber.id
    assert send_confirmations(run.rt, [person_id]).sent == 1
    confirmation = run.transport.outbox[-1]
    token = confirmation.envelope_from.split("+")[1].split("@")[0]
    assert Verp(run.settings.secret_key).read(token) == (0, person_id)  # campaign 0
    sent = Sent(confirmation.envelope_from, "new@example.net", "<confirm.x@example.org>", 0)
    assert "bounced" in _feed(run, sample("dsn-hard-gmail.txt", sent))
    assert _status(run, "new@example.net") == "bounced"
    assert [(e.kind, e.campaign_id) for e in _events(run, "new@example.net")] == [("hard", None)]
    # Without VERP, the confirmation's own keyed Message-ID proves it; a made-up one does not.
    message_id = _message_id(confirmation.message)
    for pending, returned, status in (
        ("old@example.net", message_id.replace("<confirm.", "<confirm.1"), "pending"),
        ("late@example.net", None, "bounced"),
    ):
        with run.rt.db.session() as session:
            upsert(session, validate_row({"email": pending}), consented=False, source="test")
            pending_id = session.scalars(
                select(Subscriber.id).where(Subscriber.email == pending)
            ).one()
        send_confirmations(run.rt, [pending_id])
        own = _message_id(run.transport.outbox[-1].message)
        plain = Sent("bounces@example.org", pending, returned or own, 0)
        _feed(run, sample("dsn-hard-gmail.txt", plain))
        assert _status(run, pending) == status
