"""The public signup page on a live server with a real HTTP client and a real Celery worker."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mailer.store.models import Subscriber
from mailer.subscribers.actions import forget, unsubscribe
from mailer.subscribers.store import upsert
from mailer.subscribers.validate import validate_row
from mailer.web.signup import ANSWER_SECONDS, PER_ADDRESS, PER_IP
from mailer.web.throttle import LocalCounter, RedisCounter, throttle_key
from tests.inprocess import InProcess
from tests.servers import RedisServer, free_port
from tests.webserver import serve

KNOWN = (
    "email,name,locale,status\n"
    "sub@example.org,Subscribed Sam,nl,subscribed\n"
    "gone@example.org,Gone Gil,en,subscribed\n"
    "bounce@example.org,Bounced Bo,en,bounced\n"
    "forgot@example.org,Forgotten Fay,en,subscribed\n"
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[InProcess, str]]:
    port = free_port()
    run = InProcess(tmp_path, public_url=f"http://127.0.0.1:{port}")
    run.people(KNOWN)
    with run.rt.db.session() as session:
        upsert(
            session,
            validate_row({"email": "pend@example.org", "name": "Pending Pat", "locale": "de"}),
            consented=False,
            source="cli",
        )
        unsubscribe(session, "gone@example.org")
        forget(session, "forgot@example.org")
    with run.worker(), serve(run.rt, port) as base:
        yield run, base


def _token(client: httpx.Client, path: str = "/subscribe/fr") -> str:
    page = client.get(path)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def _person(run: InProcess, email: str) -> Subscriber | None:
    with run.rt.db.session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.email == email)).one_or_none()


def _mail_to(run: InProcess, email: str, *, at_least: int = 1, timeout: float = 20) -> list:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        found = [
            message_from_bytes(s.message, policy=policy.default)
            for s in list(run.transport.outbox)
            if s.recipient == email
        ]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("path", "headers", "lang"),
    [
        ("/subscribe", {"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"}, "nl"),
        ("/subscribe", {"Accept-Language": "ja, de;q=0.2, en;q=0.8"}, "en"),
        ("/subscribe", {"Accept-Language": "*;q=1, xx-YY;q=0.9"}, "fr"),  # the default
        ("/subscribe", {}, "fr"),
        ("/subscribe?lang=de", {"Accept-Language": "nl"}, "de"),
        ("/subscribe?lang=zz", {"Accept-Language": "nl"}, "nl"),
        ("/subscribe/ar", {"Accept-Language": "de"}, "ar"),
        ("/subscribe/fr-BE", {}, "fr"),
    ],
)
def test_the_page_speaks_the_language_the_url_or_the_browser_asks_for(
    site: tuple[InProcess, str], path: str, headers: dict[str, str], lang: str
) -> None:
    _, base = site
    page = httpx.get(base + path, headers=headers)
    assert page.status_code == 200 and f'<html lang="{lang}"' in page.text
    assert ('dir="rtl"' in page.text) == (lang == "ar")
    assert "NSO Group" in page.text and "women&#39;s rights" in page.text  # mailer.toml's topics
    assert httpx.get(base + "/subscribe/xx").status_code == 404


def test_a_person_subscribes_pending_and_only_the_link_s_post_confirms(
    site: tuple[InProcess, str],
) -> None:
    run, base = site
    with httpx.Client(base_url=base) as client:
        token = _token(client, "/subscribe/de")
        answer = client.post(
            "/subscribe",
            data={
                "csrf": token,
                "ui": "de",
                "email": "  Lena@Example.ORG ",
                "name": "Lena   Weber",
                "language": "de",
                "topics": ["surveillance", "NSO group", "not offered"],
                "country": "be",
            },
        )
    assert answer.status_code == 200 and "Sehen Sie in Ihrem Posteingang nach" in answer.text
    lena = _person(run, "Lena@example.org")
    assert lena is not None
    assert (lena.status, lena.name, lena.locale, lena.country) == (
        "pending",
        "Lena Weber",
        "de",
        "BE",
    )
    assert lena.topics == ["surveillance", "NSO Group"] and lena.consent_at is None
    [mail] = _mail_to(run, "Lena@example.org")
    assert mail["Subject"].startswith("Bitte bestätigen Sie Ihre Anmeldung")
    link = re.search(
        r"(http://127\.0\.0\.1:\d+/confirm/\S+)", mail.get_body(("plain",)).get_content()
    )
    assert link
    with httpx.Client() as client:
        for _ in range(3):  # a mail gateway's link scanner
            assert client.get(link.group(1)).status_code == 200
        assert _person(run, "Lena@example.org").status == "pending"  # type: ignore[union-attr]
        assert client.post(link.group(1)).status_code == 200
    lena = _person(run, "Lena@example.org")
    assert lena is not None and lena.status == "subscribed"
    assert (lena.consent_method, lena.consent_source) == ("double-opt-in", "signup form")


def test_the_answer_never_says_whether_the_address_was_known(
    site: tuple[InProcess, str],
) -> None:
    run, base = site
    before = {e: _person(run, e) for e in ("sub@example.org", "pend@example.org")}
    bodies, timings = {}, {}
    with httpx.Client(base_url=base) as client:
        for email in (
            "new@example.org",
            "sub@example.org",
            "pend@example.org",
            "gone@example.org",
            "bounce@example.org",
            "forgot@example.org",
        ):
            token = _token(client)
            started = time.monotonic()
            answer = client.post(
                "/subscribe",
                data={
                    "csrf": token,
                    "ui": "fr",
                    "email": email,
                    "name": "Mallory",
                    "language": "fr",
                },
            )
            timings[email] = time.monotonic() - started
            bodies[email] = (answer.status_code, answer.text, tuple(sorted(answer.headers.keys())))
    assert len(set(bodies.values())) == 1, "every address gets the same answer"
    assert all(t >= ANSWER_SECONDS for t in timings.values())
    assert max(timings.values()) - statistics.median(timings.values()) < 0.25, timings
    assert len(_mail_to(run, "new@example.org")) == 1
    assert len(_mail_to(run, "pend@example.org")) == 1  # a new link for who never confirmed
    # Who unsubscribed or was erased is asked whether they want to come back.
    assert len(_mail_to(run, "gone@example.org")) == 1
    assert len(_mail_to(run, "forgot@example.org")) == 1
    time.sleep(1)  # let any wrongly queued confirmation arrive
    sent_to = {s.recipient for s in run.transport.outbox}
    assert sent_to == {
        "new@example.org",
        "pend@example.org",
        "gone@example.org",
        "forgot@example.org",
    }
    sam = _person(run, "sub@example.org")
    assert sam is not None and (sam.name, sam.locale) == ("Subscribed Sam", "nl")  # untouched
    assert _person(run, "pend@example.org").name == "Mallory"  # type: ignore[union-attr]
    assert before["pend@example.org"] is not None
    assert _person(run, "gone@example.org").status == "unsubscribed"  # type: ignore[union-attr]
    assert _person(run, "bounce@example.org").status == "bounced"  # type: ignore[union-attr]
    # An erased address is a new pending person, suppressed until they confirm.
    assert _person(run, "forgot@example.org").status == "pending"  # type: ignore[union-attr]


def test_a_post_without_our_token_subscribes_nobody_and_asks_again(
    site: tuple[InProcess, str],
) -> None:
    run, base = site
    form = {"email": "snippet@example.org", "name": "Snip", "language": "nl", "topics": "refugees"}
    # The embeddable snippet, or a forged cross-site POST: no cookie, no token.
    landing = httpx.post(base + "/subscribe", data=form)
    assert landing.status_code == 200 and '<html lang="nl"' in landing.text
    assert (
        'value="snippet@example.org"' in landing.text and 'value="refugees" checked' in landing.text
    )
    assert "Controleer je gegevens" in landing.text
    with httpx.Client(base_url=base) as other:
        stolen = _token(other)  # a token, but bound to someone else's cookie
    with httpx.Client(base_url=base) as client:
        _token(client)
        assert "Controleer" in client.post("/subscribe", data={**form, "csrf": stolen}).text
        assert "Controleer" in client.post("/subscribe", data={**form, "csrf": stolen + "x"}).text
    assert _person(run, "snippet@example.org") is None
    # The landing page's own form: one more press subscribes.
    with httpx.Client(base_url=base) as client:
        page = client.post("/subscribe", data=form)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        done = client.post("/subscribe", data={**form, "csrf": token, "ui": "nl"})
    assert "Kijk in je inbox" in done.text
    assert _person(run, "snippet@example.org").topics == ["refugees"]  # type: ignore[union-attr]


def test_a_filled_honeypot_looks_accepted_and_does_nothing(site: tuple[InProcess, str]) -> None:
    run, base = site
    with httpx.Client(base_url=base) as client:
        token = _token(client)
        answer = client.post(
            "/subscribe",
            data={"csrf": token, "email": "bot@example.org", "website": "http://spam.example"},
        )
    assert answer.status_code == 200 and "Consultez votre boîte de réception" in answer.text
    assert _person(run, "bot@example.org") is None


def test_bad_fields_are_refused_and_sizes_bounded(site: tuple[InProcess, str]) -> None:
    run, base = site
    with httpx.Client(base_url=base) as client:
        token = _token(client)
        for data, problem in (
            ({"email": "not an address"}, "ne semble pas correcte"),
            ({"email": "a" * 250 + "@example.org"}, "ne semble pas correcte"),
            ({"email": "x@example.org", "name": "N" * 201}, "raccourcir votre nom"),
        ):
            answer = client.post("/subscribe", data={"csrf": token, **data})
            assert answer.status_code == 400 and problem in answer.text
        odd = client.post(
            "/subscribe",
            data={"csrf": token, "email": "odd@example.org", "language": "xx", "country": "ZZ"},
        )
        assert odd.status_code == 200
        large = client.post("/subscribe", content=b"email=" + b"a" * 20_000)
        assert large.status_code == 413
        fields = client.post("/subscribe", content="&".join(f"f{i}=1" for i in range(2000)))
        assert fields.status_code == 200 and "Vérifiez vos informations" in fields.text
    odd_person = _person(run, "odd@example.org")
    assert odd_person is not None and (odd_person.locale, odd_person.country) == ("fr", None)
    assert _person(run, "x@example.org") is None


def test_get_head_options_and_others_change_nothing(site: tuple[InProcess, str]) -> None:
    run, base = site
    query = "?email=get@example.org&name=G&csrf=x"
    with httpx.Client(base_url=base) as client:
        token = _token(client)
        for method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"):
            answer = client.request(
                method, "/subscribe" + query, data={"csrf": token, "email": "get@example.org"}
            )
            assert answer.status_code in (200, 405), method
    assert _person(run, "get@example.org") is None


def test_rate_limits_per_address_and_per_ip(site: tuple[InProcess, str]) -> None:
    run, base = site
    statuses = []
    with httpx.Client(base_url=base) as client:
        token = _token(client)
        for _ in range(PER_ADDRESS[0] + 2):
            answer = client.post("/subscribe", data={"csrf": token, "email": "flood@example.org"})
            statuses.append(answer.status_code)
        for index in range(PER_IP[0] - len(statuses)):  # token-less posts count too
            statuses.append(
                client.post("/subscribe", data={"email": f"v{index}@x.org"}).status_code
            )
        refused = client.post("/subscribe", data={"csrf": token, "email": "late@example.org"})
    assert statuses == [200] * PER_IP[0]
    assert refused.status_code == 429 and "Veuillez réessayer plus tard" in refused.text
    mails = _mail_to(run, "flood@example.org", at_least=PER_ADDRESS[0] + 1, timeout=3)
    assert len(mails) == PER_ADDRESS[0]
    assert _person(run, "late@example.org") is None


def test_local_counters_stay_bounded() -> None:
    counter = LocalCounter(max_keys=1000)
    for index in range(5000):
        assert counter.hit(f"ip:{index}", limit=1, window=3600)
    assert len(counter._counts) == 1000
    assert counter.hit("ip:4999", limit=1, window=3600) is False  # the newest are kept


@pytest.mark.redis
def test_redis_counters_are_shared_and_hold_no_address(redis_server: RedisServer) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url.replace("/0", "/5"))
    client.flushdb()
    key = throttle_key(b"k" * 32, "address", "ana@example.org")
    first, second = (
        RedisCounter(client),
        RedisCounter(redis.Redis.from_url(redis_server.url.replace("/0", "/5"))),
    )
    assert [first.hit(key, limit=2, window=60), second.hit(key, limit=2, window=60)] == [True, True]
    assert first.hit(key, limit=2, window=60) is False  # one count for every web process
    names = [k.decode() for k in client.keys("*")]
    assert names and not any("ana" in n or "example" in n for n in names)
    assert 0 < client.ttl(names[0]) <= 60
