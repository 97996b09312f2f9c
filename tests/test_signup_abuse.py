"""The signup page cannot be turned against an inbox: no stranger's text in the organisation's
email, no flood through subaddresses."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from mailer.bounces.standing import mark_bounced
from mailer.store.models import Subscriber
from mailer.subscribers.actions import unsubscribe
from mailer.subscribers.suppression import is_suppressed
from mailer.web.signup import PER_ADDRESS
from tests.inprocess import InProcess
from tests.test_signup import _mail_to, _token, site

__all__ = ["site"]  # the live signup server of test_signup, used here too

PHISH = "Security team: your account was breached, reset it at https://evil.example/reset"


def test_the_confirmation_carries_nothing_a_stranger_typed(site: tuple[InProcess, str]) -> None:
    run, base = site
    with httpx.Client(base_url=base) as client:
        answer = client.post(
            "/subscribe",
            data={
                "csrf": _token(client, "/subscribe/en"),
                "email": "target@example.org",
                "name": PHISH,
                "language": "en",
            },
        )
    assert answer.status_code == 200
    [mail] = _mail_to(run, "target@example.org")
    assert str(mail["To"]) == "target@example.org"
    for kind in ("plain", "html"):
        body = mail.get_body((kind,)).get_content()
        assert "evil.example" not in body and "Security team" not in body
        assert "Hello," in body


def test_subaddresses_share_their_mailbox_s_limit(
    site: tuple[InProcess, str], tmp_path: Path
) -> None:
    run, base = site
    with httpx.Client(base_url=base) as client:
        token = _token(client)
        for n in range(PER_ADDRESS[0] + 3):
            email = f"Victim+{n}@example.org"
            assert (
                client.post("/subscribe", data={"csrf": token, "email": email}).status_code == 200
            )
    _mail_to(run, "Victim+0@example.org", timeout=3)
    sent = [s for s in list(run.transport.outbox) if s.recipient.lower().startswith("victim+")]
    assert len(sent) == PER_ADDRESS[0]


def _confirm_link(mail: object) -> str:
    found = re.search(
        r"(http://127\.0\.0\.1:\d+/confirm/\S+)",
        mail.get_body(("plain",)).get_content(),  # type: ignore[attr-defined]
    )
    assert found
    return found.group(1)


def _status_of(run: InProcess, email: str) -> str:
    with run.rt.db.session() as session:
        return session.scalars(select(Subscriber.status).where(Subscriber.email == email)).one()


def test_an_old_confirmation_link_cannot_bring_back_who_left(site: tuple[InProcess, str]) -> None:
    run, base = site
    with httpx.Client(base_url=base) as client:
        client.post("/subscribe", data={"csrf": _token(client), "email": "leaver@example.org"})
        old = _confirm_link(_mail_to(run, "leaver@example.org")[0])
        assert httpx.post(old).status_code == 200
        assert _status_of(run, "leaver@example.org") == "subscribed"
        with run.rt.db.session() as session:
            unsubscribe(session, "leaver@example.org")
        time.sleep(1.1)  # the next signup comes later than the old link (whole seconds)
        # A stranger fills in the form with her address; the old link (a gateway's log, a
        # forwarded email, a seized phone) must not bring her back.
        client.post("/subscribe", data={"csrf": _token(client), "email": "leaver@example.org"})
        fresh = _confirm_link(_mail_to(run, "leaver@example.org", at_least=2)[-1])
        httpx.post(old)
        assert _status_of(run, "leaver@example.org") == "unsubscribed"
        assert httpx.post(fresh).status_code == 200  # her own click on the new email does
        assert _status_of(run, "leaver@example.org") == "subscribed"


def test_an_address_that_bounced_after_leaving_is_never_mailed_again(
    site: tuple[InProcess, str],
) -> None:
    run, base = site
    with run.rt.db.session() as session:
        unsubscribe(session, "sub@example.org")
        row = session.scalars(select(Subscriber).where(Subscriber.email == "sub@example.org")).one()
        mark_bounced(session, row)  # its mailbox died since
        assert is_suppressed(session, row.email_key) == "bounced"
    with httpx.Client(base_url=base) as client:
        answer = client.post(
            "/subscribe", data={"csrf": _token(client), "email": "sub@example.org"}
        )
    assert answer.status_code == 200
    assert _mail_to(run, "sub@example.org", timeout=3) == []
