"""The signup page cannot be turned against an inbox: no stranger's text in the organisation's
email, no flood through subaddresses."""

from __future__ import annotations

from pathlib import Path

import httpx

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
