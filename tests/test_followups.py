"""Follow-ups on SQLite and PostgreSQL: received(ID), attr.NAME, took("ACTION"), why, bounds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.campaigns.plan import create_campaign, plan_pages
from mailer.campaigns.run import send_batch
from mailer.config import load_settings
from mailer.errors import InputError
from mailer.runtime import Runtime, build_runtime
from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.store import open_database
from mailer.store.models import ActionTaker, Delivery
from mailer.subscribers.actions import forget, unsubscribe, why
from mailer.subscribers.importer import import_csv
from mailer.subscribers.segment_parse import (
    MAX_DEPTH,
    MAX_TERMS,
    SegmentError,
    parse_segment,
    to_source,
)
from mailer.subscribers.segments import count_segment, resolve_segment, save_segment
from mailer.subscribers.taken import import_actions
from mailer.transport.base import Outgoing
from mailer.transport.classify import Reply, Stage
from mailer.transport.memory import MemoryTransport
from tests.conftest import EXAMPLES, _postgres_schema

PEOPLE = (
    "email,name,locale,country,signed_nso,member_since\n"
    "ana@example.org,Ana,fr,BE,yes,2019\n"
    "bert@example.org,Bert,nl,BE,no,2020\n"
    "carl@example.org,Carl,de,BE,,2021\n"  # no signed_nso at all
    "dora@example.org,Dora,en,BE,no,\n"  # her server refuses the appeal: failed, not sent
    "emil@example.org,Emil,fr,BE,no,\n"  # unsubscribes after the appeal
    "fay@example.org,Fay,en,GB,no,\n"  # outside the appeal's segment
    "gus@example.org,Gus,fr,BE,Yes,\n"  # "Yes" is not "yes": attributes compare exactly
)
FOLLOW_UP = """---
id: nso-hearing-en
lang: en
translation_key: nso-hearing
title: "NSO Group: the court of appeal will hear the case"
topics: [NSO Group]
urgency: news
---
Further information on the appeal: the hearing is set for next month.
"""


class Refusing(MemoryTransport):
    """Accepts everything except mail to one address (550, the recipient's fault)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    def send(self, item: Outgoing) -> Reply:
        if item.recipient == self.refused:
            return Reply(Stage.RCPT, 550, "5.1.1 no such user")
        return super().send(item)


@pytest.fixture
def rt(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(
        load_settings(
            {
                "MAILER_DATABASE_URL": database_url,
                "MAILER_DATA_DIR": str(tmp_path / "data"),
                "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
                "MAILER_SECRET_KEY": "follow-up-test-key-0123456789abcdef",
            }
        ),
        transport=Refusing("dora@example.org"),
    )
    follow_up = tmp_path / "nso-hearing.en.md"
    follow_up.write_text(FOLLOW_UP, encoding="utf-8")
    with runtime.db.session() as session:
        save(session, parse_file(EXAMPLES / "statements" / "nso-export-licence.en.md"))
        save(session, parse_file(follow_up))
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    import_csv(runtime.db, people, consented=True)
    try:
        yield runtime
    finally:
        runtime.close()


def _send(rt: Runtime, statement_id: str, segment: str) -> int:
    """Plan and send a campaign to a segment with the real planner and batch sender."""
    with rt.db.session() as session:
        campaign = create_campaign(
            session,
            org=rt.org,
            statement_id=statement_id,
            segment=resolve_segment(session, segment),
        )
    for ids in plan_pages(rt.db, rt.org, campaign.id):
        send_batch(rt, campaign.id, ids)
    return campaign.id


def _recipients(rt: Runtime, campaign_id: int) -> set[str]:
    found = set()
    for sent in rt.transport.outbox:  # type: ignore[attr-defined]
        message = message_from_bytes(sent.message, policy=policy.default)
        if message["X-Mailer-Campaign"] == str(campaign_id):
            found.add(sent.recipient.split("@")[0])
    return found


def test_a_follow_up_reaches_exactly_who_received_and_did_not_sign(rt: Runtime) -> None:
    appeal = _send(rt, "nso-export-licence-en", 'not country = "GB"')
    assert _recipients(rt, appeal) == {"ana", "bert", "carl", "emil", "gus"}
    with rt.db.session() as session:
        unsubscribe(session, "emil@example.org")
        assert count_segment(session, f"received({appeal})").matching == 5
        assert count_segment(session, f"not received({appeal})").matching == 2  # dora, fay
    follow_up = _send(rt, "nso-hearing-en", f'received({appeal}) and not attr.signed_nso = "yes"')
    # carl has no such attribute: not "yes"; dora's appeal failed; emil left; fay never got it.
    assert _recipients(rt, follow_up) == {"bert", "carl", "gus"}
    with rt.db.session() as session:
        ana = why(session, "ana@example.org", follow_up)
        fay = why(session, "fay@example.org", follow_up)
        dora = why(session, "dora@example.org", follow_up)
    assert ana["excluded_by"] == 'not attr.signed_nso = "yes"'
    assert 'not attr.signed_nso = "yes" is false for this person' in ana["explanation"]
    assert fay["excluded_by"] == f"received({appeal})"
    assert dora["reason"] == "bounced"  # her 550 suppressed her: received() never counted her


def test_took_counts_action_takers_and_a_re_import_changes_nothing(
    rt: Runtime, tmp_path: Path
) -> None:
    appeal = _send(rt, "nso-export-licence-en", 'not country = "GB"')
    signers = tmp_path / "signers.csv"
    signers.write_text(
        "Email;Taken_At\n"
        "  ANA@Example.ORG ;2024-07-14\n"  # the importer's normalisation: trimmed, any case
        "stranger@example.net;2024-07-14\n"  # not a subscriber: nothing kept
        "not-an-address;\n"
        "bert@example.org;2024-13-01\n"
        "carl@example.org;\n"
        "carl@example.org;2024-07-01T08:00:00+02:00\n",  # the earliest time wins
        encoding="utf-8",
    )
    report = import_actions(rt.db, signers, action="Petition NSO")
    assert (report.matched, report.recorded, report.unknown, report.invalid) == (3, 2, 1, 2)
    assert [line for line, _ in report.problems] == [3, 4, 5]
    assert report.problems[1][1].startswith("email: ") and "taken_at" in report.problems[2][1]
    again = import_actions(rt.db, signers, action="petition nso")
    assert (again.matched, again.recorded) == (3, 0)
    with rt.db.session() as session:
        rows = session.execute(select(ActionTaker.action, ActionTaker.taken_at)).all()
        assert len(rows) == 2 and {a for a, _ in rows} == {"petition nso"}
        assert min(t for _, t in rows).isoformat() == "2024-07-01T06:00:00+00:00"
        assert count_segment(session, 'took("PETITION  nso")').matching == 2
    follow_up = _send(rt, "nso-hearing-en", f'received({appeal}) and not took("petition nso")')
    assert _recipients(rt, follow_up) == {"bert", "emil", "gus"}
    with rt.db.session() as session:
        carl = why(session, "carl@example.org", follow_up)
        assert carl["excluded_by"] == 'not took("petition nso")'
        forget(session, "carl@example.org")
    with rt.db.session() as session:  # erasure takes the person's actions with them
        assert session.scalar(select(func.count()).select_from(ActionTaker)) == 1


def test_the_store_names_what_it_does_not_know(rt: Runtime) -> None:
    with rt.db.session() as session:
        for expression, problem in (
            (
                'attr.signed = "yes"',
                "column 1: unknown attribute 'signed'; known attributes: member_since, signed_nso",
            ),
            ("received(99)", "column 1: no campaign 99"),
            ('alerts and took("donated")', "column 12: no action 'donated' recorded; record one"),
            ("attr.signed_nso > 2", "column 1: attr.signed_nso is text: use =, !="),
            ('attr.signed_nso has "y"', "column 1: attr.signed_nso is text"),
        ):
            with pytest.raises(SegmentError) as caught:
                count_segment(session, expression)
            assert str(caught.value).startswith(problem), str(caught.value)
        with pytest.raises(SegmentError, match="unknown attribute"):
            save_segment(session, "x", "attr.nope is empty")
        assert count_segment(session, "attr.member_since in (2019, 2021)").matching == 2
        assert count_segment(session, "attr.member_since is empty").matching == 4
        assert count_segment(session, 'attr."signed_nso" != "yes"').matching == 6


@pytest.mark.parametrize(
    "expression",
    [
        'received(12) and not took("petition-nso")',
        'attr."signé nso" in ("a", 2) or topics is empty and not (alerts or locale = "fr")',
        'not (country = "BE" and "x\\"y" in topics)',
    ],
)
def test_expressions_print_back_as_they_parse(expression: str) -> None:
    node = parse_segment(expression)
    assert to_source(parse_segment(to_source(node))) == to_source(node)


def test_huge_and_deep_expressions_fail_at_parse_time_in_one_line() -> None:
    for expression, problem in (
        # The saved segment of issue 14: 1,200 `or` terms.
        (" or ".join(f'email = "p{i}@example.org"' for i in range(1200)), "longer than 10000"),
        ("alerts or " * MAX_TERMS + "alerts", f"more than {MAX_TERMS} terms"),
        ("not " * 2000 + "alerts", f"nested more than {MAX_DEPTH} levels deep"),
        ("(" * 4000 + "alerts" + ")" * 4000, f"nested more than {MAX_DEPTH} levels deep"),
        ("topics in (" + ", ".join(f'"t{i}"' for i in range(101)) + ")", "more than 100 terms"),
        ('country in ("' + '", "'.join(["BE"] * 1001) + '")', "more than 1000 values"),
    ):
        with pytest.raises(SegmentError) as caught:
            parse_segment(expression)
        assert problem in str(caught.value) and "\n" not in str(caught.value)
        assert str(caught.value).startswith("column ")


def test_the_largest_accepted_expressions_plan_and_count_in_bounded_time(rt: Runtime) -> None:
    appeal = _send(rt, "nso-export-licence-en", 'not country = "GB"')
    wide = " or ".join(
        ["received({0})", 'attr.signed_nso = "v"', '"x" in topics', 'locale = "fr"'][i % 4].format(
            appeal
        )
        for i in range(MAX_TERMS)
    )
    nested = "not (" * (MAX_DEPTH // 2) + f"received({appeal}) or alerts" + ")" * (MAX_DEPTH // 2)
    listed = 'country in ("' + '", "'.join(f"C{i}" for i in range(1000)) + '") or alerts'
    for expression in (wide, nested, listed):
        with rt.db.session() as session:
            started = time.monotonic()
            count_segment(session, expression)
        assert time.monotonic() - started < 10
        campaign = _send(rt, "nso-hearing-en", expression)
        with rt.db.session() as session:
            rows = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign)
            )
        assert rows == 7  # planned to the end: a row for everyone


def test_a_bad_action_name_is_one_line(rt: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("email\nana@example.org\n", encoding="utf-8")
    for name in ("", "   ", "x" * 101, "a\x1bb"):
        with pytest.raises(InputError, match="--action: 1 to 100 printable characters"):
            import_actions(rt.db, path, action=name)
    path.write_text("name\nAna\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 'email' column"):
        import_actions(rt.db, path, action="petition")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema()


@pytest.mark.postgres
def test_follow_up_counts_on_100000_subscribers_take_under_a_second(
    postgres_url: str, tmp_path: Path
) -> None:
    from bench.audience import best_count, populate

    db = open_database(postgres_url)
    try:
        populate(db, tmp_path, 100_000)
        for expression in (
            "received(1)",
            'received(1) and not attr.signed_nso = "yes"',
            'received(1) and not took("petition-nso")',
        ):
            seconds, found = best_count(db, expression)
            assert found > 10_000 and seconds < 1.0, (expression, seconds)
    finally:
        db.dispose()
