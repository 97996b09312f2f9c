"""The preference page: language, frequency, topics and country, every field bounded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer.runtime import Runtime
from mailer.store.models import StatementRow, Subscriber, utcnow
from mailer.subscribers.segment_sql import keys_of
from mailer.subscribers.validate import ALERT_PREFS
from mailer.web.pages import countries, languages, page, page_locale
from mailer.web.people import not_found, personal_links, subscriber_of

__all__ = ["MAX_FORM_FIELDS", "MAX_TOPIC_LENGTH", "offered_topics", "preference_routes"]

CSRF_MAX_AGE = 24 * 3600
MAX_TOPIC_LENGTH = 100  # as `topics` in mailer.toml
MAX_FORM_FIELDS = 400  # more than the organisation's topics (200 at most) and the rest
_MAX_OFFERED = 200
_RECENT_STATEMENTS = 500


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if isinstance(value, str) else ""


def offered_topics(rt: Runtime) -> list[str]:
    """The topics a person may choose: the profile's list, else those of published statements
    (never of a draft or an embargoed statement: its topics would announce it)."""
    if rt.org.topics:
        return list(rt.org.topics)
    with rt.db.session() as session:
        rows = session.scalars(
            select(StatementRow.topics)
            .where(StatementRow.published_at.is_not(None), StatementRow.published_at <= utcnow())
            .order_by(StatementRow.published_at.desc())
            .limit(_RECENT_STATEMENTS)
        )
        found = [_clean(t) for topics in rows for t in (topics or [])]
    seen: dict[str, str] = {}
    for topic in sorted(found, key=str.casefold):
        if 0 < len(topic) <= MAX_TOPIC_LENGTH:
            seen.setdefault(topic.casefold(), topic)
    return list(seen.values())[:_MAX_OFFERED]


def _choosable(rt: Runtime, person: Subscriber) -> dict[str, str]:
    """Case-folded topic -> its spelling: what is offered, and what the person already follows
    (an import may have given topics the page does not offer; saving must not drop them)."""
    allowed: dict[str, str] = {}
    own = [_clean(t) for t in person.topics or []]
    for topic in [*own, *offered_topics(rt)]:
        if 0 < len(topic) <= MAX_TOPIC_LENGTH:
            allowed.setdefault(topic.casefold(), topic)
    return allowed


def _apply(rt: Runtime, person: Subscriber, form: FormData) -> Subscriber | None:
    """Store the form: a value that is not one of the choices offered is ignored, never stored."""
    allowed = _choosable(rt, person)
    known_countries = {code for code, _ in countries("en")}
    with rt.db.session() as session:
        row = session.get(Subscriber, person.id)
        if row is None:
            return None
        locale = _clean(form.get("locale"))
        if locale in {code for code, _ in languages(rt.org, row.locale)}:
            row.locale = locale  # a locale of the profile, or the person's own (fr_BE) kept
        pref = _clean(form.get("alert_pref"))
        if pref in ALERT_PREFS:
            row.alert_pref = pref
        chosen: dict[str, str] = {}
        for value in form.getlist("topics"):
            topic = _clean(value)[: MAX_TOPIC_LENGTH + 1]
            spelling = allowed.get(topic.casefold())
            if spelling is not None:
                chosen.setdefault(spelling.casefold(), spelling)
        row.topics = list(chosen.values())
        row.topic_keys = keys_of(row.topics)
        country = _clean(form.get("country")).upper()
        if country == "" or country in known_countries:
            row.country = country or None
        return row


def preference_routes(rt: Runtime) -> list[Route]:
    """`/preferences/{token}`."""

    async def preferences(request: Request) -> Response:
        person = subscriber_of(rt, request.path_params["token"], "preferences")
        if person is None:
            return not_found(rt)
        saved = False
        if request.method == "POST":
            # The body is already bounded (size and time) by the guard; no file is a field.
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
            if not rt.signer.verify_csrf(_clean(form.get("csrf")), person.id, CSRF_MAX_AGE):
                locale = page_locale(rt.org, person.locale)
                return page(
                    rt.org,
                    locale,
                    "form_expired",
                    status=400,
                    title_msgid="This form has expired",
                    **personal_links(rt, person),
                )
            person = _apply(rt, person, form) or person
            saved = True
        return _page(rt, person, saved=saved)

    return [Route("/preferences/{token}", preferences, methods=["GET", "POST"])]


def _page(rt: Runtime, person: Subscriber, *, saved: bool) -> Response:
    locale = page_locale(rt.org, person.locale)
    choosable = list(_choosable(rt, person).values())
    context: dict[str, Any] = {
        "saved": saved,
        "csrf": rt.signer.sign_csrf(person.id),
        "languages": languages(rt.org, person.locale),
        "current_locale": person.locale or rt.org.default_locale,
        "alert_pref": person.alert_pref,
        "topics": choosable,
        "chosen": set(person.topics or []),
        "countries": countries(locale),
        "country": person.country or "",
    }
    return page(
        rt.org,
        locale,
        "preferences",
        title_msgid="Your preferences",
        **context,
        **personal_links(rt, person),
    )
