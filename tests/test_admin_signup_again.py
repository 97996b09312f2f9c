"""Signing up again: who unsubscribed or was erased gets the double opt-in and comes back on
confirming; who bounced or complained gets nothing; the answer is the same for everyone."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mailer.campaigns.preview_run import dry_run
from mailer.store.models import Subscriber
from mailer.subscribers.actions import forget, unsubscribe
from mailer.subscribers.suppression import is_suppressed
from tests.inprocess import InProcess
from tests.servers import free_port
from tests.webserver import serve

PEOPLE = (
    "email,name,locale,status\n"
    "gone@example.org,Gone Gil,en,subscribed\n"
    "forgot@example.org,Forgotten Fay,en,subscribed\n"
    "bounce@example.org,Bounced Bo,en,bounced\n"
    "spam@example.org,Complaining Cy,en,complained\n"
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[InProcess, str]]:
    port = free_port()
    run = InProcess(tmp_path, public_url=f"http://127.0.0.1:{port}")
    run.statements("nso-export-licence.en.md")
    run.people(PEOPLE)
    with run.rt.db.session() as session:
        unsubscribe(session, "gone@example.org")
        forget(session, "forgot@example.org")
    with run.worker(), serve(run.rt, port) as base:
        yield run, base


def _person(run: InProcess, email: str) -> Subscriber | None:
    with run.rt.db.session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.email == email)).one_or_none()


def _mail(run: InProcess, email: str, timeout: float = 20) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for sent in list(run.transport.outbox):
            if sent.recipient == email:
                message = message_from_bytes(sent.message, policy=policy.default)
                assert isinstance(message, EmailMessage)
                found.append(message)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _confirm(message: EmailMessage) -> None:
    link = re.search(
        r"(http://127\.0\.0\.1:\d+/confirm/\S+)", message.get_body(("plain",)).get_content()
    )  # type: ignore[union-attr]
    assert link
    assert httpx.post(link.group(1)).status_code == 200


def test_signing_up_again_brings_back_who_left_or_was_erased_once_confirmed(
    site: tuple[InProcess, str],
) -> None:
    run, base = site
    answers = set()
    with httpx.Client(base_url=base) as client:
        for email in (
            "gone@example.org",
            "forgot@example.org",
            "bounce@example.org",
            "spam@example.org",
            "new@example.org",
        ):
            page = client.get("/subscribe/en")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token
            answer = client.post(
                "/subscribe",
                data={
                    "csrf": token.group(1),
                    "ui": "en",
                    "email": email,
                    "name": "M",
                    "language": "en",
                },
            )
            answers.add((answer.status_code, answer.text))
    assert len(answers) == 1  # never says whether the address was known
    (gone,) = _mail(run, "gone@example.org")
    (forgot,) = _mail(run, "forgot@example.org")
    assert _mail(run, "new@example.org")
    time.sleep(1)  # a wrongly queued confirmation would have arrived by now
    assert {s.recipient for s in run.transport.outbox} == {
        "gone@example.org",
        "forgot@example.org",
        "new@example.org",
    }
    # Nothing changes before the person confirms: still unsubscribed, still suppressed.
    before = _person(run, "gone@example.org")
    assert before is not None and (before.status, before.name) == ("unsubscribed", "Gone Gil")
    assert sum(dry_run(run.rt, "nso-export-licence-en").sending.values()) == 0
    _confirm(gone)
    _confirm(forgot)
    for email in ("gone@example.org", "forgot@example.org"):
        person = _person(run, email)
        assert person is not None and person.status == "subscribed", email
        assert (person.consent_source, person.consent_method) == ("signup form", "double-opt-in")
        assert person.consent_at is not None
        with run.rt.db.session() as session:
            assert is_suppressed(session, person.email_key) is None
    assert _person(run, "bounce@example.org").status == "bounced"  # type: ignore[union-attr]
    assert _person(run, "spam@example.org").status == "complained"  # type: ignore[union-attr]
    assert sum(dry_run(run.rt, "nso-export-licence-en").sending.values()) == 2
