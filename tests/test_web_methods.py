"""Every route of the app, with every method but POST: nothing in the database changes.

The routes are read from the app itself, so a route added later is walked too. Each is
called with valid tokens of every purpose (a subscribed and a pending person, the current
and the earlier token forms), a form body that a POST would act on, and a hostile Host
header; every response must carry the security headers and no redirect may leave the site.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import Signer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from sqlalchemy import inspect, text
from starlette.routing import BaseRoute, Mount, Route

from mailer.store.models import Subscriber
from mailer.subscribers.store import upsert
from mailer.subscribers.validate import validate_row
from mailer.tokens import PURPOSES
from mailer.web import create_app
from tests.inprocess import InProcess
from tests.servers import free_port
from tests.webserver import serve

PEOPLE = "email,name,locale,topics\nana@example.org,Ana,fr,\nbert@example.org,Bert,nl,\n"
METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "PROPFIND", "FROB")
HOSTILE_HOST = "evil.example"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[InProcess, str]]:
    port = free_port()
    run = InProcess(tmp_path, public_url=f"http://127.0.0.1:{port}")
    run.statements("nso-export-licence.fr.txt", "nso-export-licence.nl.md")
    run.people(PEOPLE)
    run.send("nso-export-licence-fr")
    with run.rt.db.session() as session:
        upsert(
            session,
            validate_row({"email": "dora@example.org", "locale": "fr"}),
            consented=False,
            source="web",
        )
    with serve(run.rt, port) as base:
        yield run, base


def snapshot(run: InProcess) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (whatever tables later migrations add)."""
    engine = run.rt.db.engine
    out = {}
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[Route]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _routes(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            yield Route(prefix + route.path, route.endpoint, methods=route.methods)


def _candidates(run: InProcess) -> tuple[list[tuple[str, int | None]], dict[str, list[str]]]:
    """(token, subscriber id) pairs, and values for other path parameters."""
    signer, key = run.rt.signer, run.settings.secret_key
    with run.rt.db.session() as session:
        people = [
            session.query(Subscriber).filter_by(email=email).one().id
            for email in ("ana@example.org", "dora@example.org")
        ]
        statements = [row[0] for row in session.execute(text("SELECT id FROM statements"))]
        campaigns = [str(row[0]) for row in session.execute(text("SELECT id FROM campaigns"))]
    tokens: list[tuple[str, int | None]] = [("forged", None)]
    for person in people:
        tokens += [(signer.sign(person, p), person) for p in PURPOSES]
        # The earlier forms, as itsdangerous made them: still in mail already sent.
        payload = base64_encode(str(person).encode())
        tokens += [
            (Signer(key, salt=f"mailer.{p}").sign(payload).decode(), person) for p in PURPOSES
        ]
        tokens.append((signer.sign_expiring(person), person))
        timed = URLSafeTimedSerializer(key, salt="mailer.confirm.timed")
        tokens.append((timed.dumps(person), person))
    others = {
        "campaign": [*campaigns, "99999999999999999999"],
        "lang": [*run.rt.org.locales, "xx"],
        "statement": statements,
    }
    return tokens, others


def _urls(run: InProcess) -> list[tuple[str, int | None]]:
    tokens, others = _candidates(run)
    app = create_app(run.rt)
    generic = [t for t, _ in tokens] + [v for values in others.values() for v in values]
    urls: list[tuple[str, int | None]] = []
    rng = random.Random(14)
    for route in _routes(list(app.routes)):
        names = list(route.param_convertors)
        choices: list[list[tuple[str, int | None]]] = []
        for name in names:
            if name == "token":
                choices.append(tokens)
            else:
                choices.append([(v, None) for v in others.get(name, generic)])
        combos = list(itertools.product(*choices))
        rng.shuffle(combos)
        for combo in combos[:80]:
            path = route.path
            person = None
            for name, (value, subscriber) in zip(names, combo, strict=True):
                path = path.replace("{" + name + "}", value).replace(
                    "{" + name + ":" + _convertor_name(route, name) + "}", value
                )
                person = person or subscriber
            urls.append((path, person))
    return urls


def _convertor_name(route: Route, name: str) -> str:
    return type(route.param_convertors[name]).__name__.removesuffix("Convertor").lower()


def _form(run: InProcess, person: int | None) -> dict[str, Any]:
    """What a POST to any of the pages would act on."""
    form: dict[str, Any] = {
        "List-Unsubscribe": "One-Click",
        "locale": "nl",
        "alert_pref": "none",
        "topics": ["surveillance"],
        "country": "BE",
        "email": "eve@example.org",
        "name": "Eve",
        "consent": "yes",
    }
    if person is not None:
        form["csrf"] = run.rt.signer.sign_csrf(person)
    return form


def _header_problems(response: httpx.Response, base: str) -> list[str]:
    headers = response.headers
    where = f"{response.request.method} {response.request.url}"
    policy = headers.get("content-security-policy", "")
    problems = []
    if "frame-ancestors 'none'" not in policy or "default-src 'none'" not in policy:
        problems.append(f"{where}: Content-Security-Policy {policy!r}")
    if headers.get("x-content-type-options") != "nosniff":
        problems.append(f"{where}: no X-Content-Type-Options: nosniff")
    if headers.get("referrer-policy") != "no-referrer":
        problems.append(f"{where}: no Referrer-Policy: no-referrer")
    location = headers.get("location")
    if location is not None and not (
        location.startswith(base + "/") or (location.startswith("/") and location[1:2] != "/")
    ):
        problems.append(f"{where}: redirected off-site to {location}")
    return problems


def test_only_post_changes_anything_on_any_route(site: tuple[InProcess, str]) -> None:
    run, base = site
    before = snapshot(run)
    sent_before = len(run.messages())
    urls = _urls(run)
    assert {"/u/", "/confirm/", "/preferences/", "/view/"} <= {
        "/" + path.split("/")[1] + "/" for path, _ in urls if path.count("/") > 1
    }
    calls, problems = 0, []
    with httpx.Client(base_url=base, timeout=30) as client:
        for (path, person), method in itertools.product(urls, METHODS):
            variants = [path]
            if method in ("GET", "HEAD", "OPTIONS"):
                variants += [path + "/", path + "//", "/" + path]
            for url in variants:
                try:
                    response = client.request(
                        method,
                        url,
                        params={"via": "page"},
                        data=_form(run, person),
                        headers={"Host": HOSTILE_HOST, "X-Forwarded-Host": HOSTILE_HOST},
                    )
                except httpx.TransportError as exc:
                    problems.append(f"{method} {url}: {exc!r}")
                    continue
                calls += 1
                if response.status_code >= 500:
                    problems.append(f"{method} {url}: {response.status_code}")
                problems += _header_problems(response, base)
                if method == "HEAD" and response.content:
                    problems.append(f"HEAD {url}: a body")
                if method not in ("GET", "HEAD") and response.status_code not in (404, 405):
                    problems.append(f"{method} {url}: {response.status_code}")
    assert calls > 500
    assert snapshot(run) == before, "a request other than POST changed the database"
    assert len(run.messages()) == sent_before, "a request other than POST sent mail"
    assert not problems, "\n".join(problems[:20])
    # The check can see a change: the same unsubscribe link, POSTed, acts.
    ana = next(person for path, person in urls if path.startswith("/u/") and person)
    token = run.rt.signer.sign(ana, "unsubscribe")
    with httpx.Client(base_url=base) as client:
        assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).is_success
    assert snapshot(run) != before


def test_head_answers_like_get_without_acting(site: tuple[InProcess, str]) -> None:
    run, base = site
    with run.rt.db.session() as session:
        ana = session.query(Subscriber).filter_by(email="ana@example.org").one()
        dora = session.query(Subscriber).filter_by(email="dora@example.org").one()
        unsubscribe = run.rt.signer.sign(ana.id, "unsubscribe")
        confirm = run.rt.signer.sign_expiring(dora.id)
    with httpx.Client(base_url=base) as client:
        for url in (f"/u/{unsubscribe}", f"/confirm/{confirm}"):
            get, head = client.get(url), client.head(url)
            assert head.status_code == get.status_code == 200
            assert (
                head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
            )
    with run.rt.db.session() as session:
        assert session.get(Subscriber, ana.id).status == "subscribed"  # type: ignore[union-attr]
        assert session.get(Subscriber, dora.id).status == "pending"  # type: ignore[union-attr]


def test_no_redirect_leaves_the_site(site: tuple[InProcess, str]) -> None:
    run, base = site
    with run.rt.db.session() as session:
        ana = session.query(Subscriber).filter_by(email="ana@example.org").one()
    token = run.rt.signer.sign(ana.id, "unsubscribe")
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        slashed = client.get(f"/u/{token}/", headers={"Host": HOSTILE_HOST})
        assert slashed.status_code == 200 and "location" not in slashed.headers
        for path in ("//evil.example/", "//evil.example/u/x/", "/\\evil.example/", "/healthz/"):
            response = client.get(path, headers={"Host": HOSTILE_HOST})
            assert "location" not in response.headers, path
