"""The Starlette app: GET never changes anything (link scanners follow every link); POST does."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from mailer.campaigns.links import recipient_for
from mailer.campaigns.run import template_for
from mailer.runtime import Runtime
from mailer.store.models import Delivery, StatementRow, Subscriber
from mailer.subscribers.actions import unsubscribe_row
from mailer.subscribers.confirm import CONFIRM_MAX_AGE, confirm
from mailer.subscribers.segment_sql import keys_of
from mailer.subscribers.validate import ALERT_PREFS
from mailer.web.archive import archive_routes
from mailer.web.pages import countries, languages, page, page_locale
from mailer.web.signup import signup_routes

__all__ = ["create_app"]

_CSRF_MAX_AGE = 24 * 3600


def create_app(rt: Runtime) -> Starlette:
    """The subscriber-facing web app over a runtime."""

    def subscriber(token: str, purpose: str) -> Subscriber | None:
        subscriber_id = rt.signer.verify(token, purpose)
        if subscriber_id is None:
            return None
        with rt.db.session() as session:
            return session.get(Subscriber, subscriber_id)

    def not_found(request: Request) -> HTMLResponse:
        locale = page_locale(rt.org, None)
        return page(rt.org, locale, "not_found", status=404, title_msgid="This link is not valid")

    def links(person: Subscriber) -> dict[str, Any]:
        base = rt.settings.public_url
        return {
            "preferences_url": f"{base}/preferences/{rt.signer.sign(person.id, 'preferences')}",
            "unsubscribe_url": f"{base}/u/{rt.signer.sign(person.id, 'unsubscribe')}",
        }

    async def unsubscribe(request: Request) -> Response:
        person = subscriber(request.path_params["token"], "unsubscribe")
        if person is None:
            return not_found(request)
        locale = page_locale(rt.org, person.locale)
        if request.method == "GET":
            return page(rt.org, locale, "unsubscribe", title_msgid="Unsubscribe", **links(person))
        # RFC 8058 one-click (List-Unsubscribe=One-Click) or the page's button: same effect,
        # no cookie, no login, idempotent.
        with rt.db.session() as session:
            row = session.get(Subscriber, person.id)
            if row is not None:
                unsubscribe_row(
                    session,
                    row,
                    how="one-click" if request.query_params.get("via") != "page" else "page",
                )
        return page(rt.org, locale, "unsubscribed", title_msgid="You are unsubscribed")

    async def confirm_page(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber_id = rt.signer.verify_expiring(token, CONFIRM_MAX_AGE)
        if subscriber_id is None:
            return not_found(request)
        with rt.db.session() as session:
            person = session.get(Subscriber, subscriber_id)
        if person is None:
            return not_found(request)
        locale = page_locale(rt.org, person.locale)
        if request.method == "GET":
            return page(rt.org, locale, "confirm", title_msgid="One more step")
        confirmed = confirm(rt, token)
        if confirmed is None:
            return not_found(request)
        return page(
            rt.org,
            locale,
            "confirmed",
            title_msgid="Thank you, your subscription is confirmed",
            **links(confirmed),
        )

    def known_topics(chosen: list[str]) -> list[str]:
        with rt.db.session() as session:
            rows = session.scalars(
                select(StatementRow.topics).order_by(StatementRow.imported_at.desc()).limit(500)
            )
            found = {t for topics in rows for t in topics}
        seen: dict[str, str] = {}
        for topic in [*chosen, *sorted(found, key=str.casefold)]:
            seen.setdefault(topic.casefold(), topic)
        return list(seen.values())

    async def preferences(request: Request) -> Response:
        person = subscriber(request.path_params["token"], "preferences")
        if person is None:
            return not_found(request)
        saved = False
        if request.method == "POST":
            form = await request.form()
            csrf = str(form.get("csrf", ""))
            if rt.signer.verify_csrf(csrf, person.id, _CSRF_MAX_AGE) is False:
                return PlainTextResponse("invalid form, reload the page", status_code=400)
            person = _apply(rt, person.id, form) or person
            saved = True
        locale = page_locale(rt.org, person.locale)
        return page(
            rt.org,
            locale,
            "preferences",
            title_msgid="Your preferences",
            saved=saved,
            csrf=rt.signer.sign_csrf(person.id),
            languages=languages(rt.org),
            current_locale=person.locale or rt.org.default_locale,
            alert_pref=person.alert_pref,
            topics=known_topics(list(person.topics)),
            chosen=set(person.topics),
            countries=countries(locale),
            country=person.country or "",
            **links(person),
        )

    async def view(request: Request) -> Response:
        person = subscriber(request.path_params["token"], "view")
        try:
            campaign_id = int(request.path_params["campaign"])
        except ValueError:
            return not_found(request)
        if person is None:
            return not_found(request)
        with rt.db.session() as session:
            row = session.scalars(
                select(Delivery).where(
                    Delivery.campaign_id == campaign_id, Delivery.subscriber_id == person.id
                )
            ).one_or_none()
        if row is None or row.statement_id is None or row.locale is None:
            return not_found(request)
        template = template_for(rt, campaign_id, row.statement_id, row.locale)
        recipient = recipient_for(
            signer=rt.signer,
            org=rt.org,
            public_url=rt.settings.public_url,
            campaign_id=campaign_id,
            subscriber_id=person.id,
            email=person.email,
            name=person.name,
        )
        fields = {
            "greeting": template.variant.greeting(person.name),
            "unsubscribe_url": recipient.unsubscribe_url,
            "preferences_url": recipient.preferences_url,
            "view_url": recipient.view_url,
            "confirm_url": "",
        }
        return HTMLResponse(
            template.variant.html.fill(fields), headers={"Cache-Control": "no-store"}
        )

    async def healthz(request: Request) -> Response:
        with rt.db.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/u/{token}", unsubscribe, methods=["GET", "POST"]),
            Route("/confirm/{token}", confirm_page, methods=["GET", "POST"]),
            Route("/preferences/{token}", preferences, methods=["GET", "POST"]),
            Route("/view/{campaign}/{token}", view, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            *signup_routes(rt),
            *archive_routes(rt),
        ],
    )


def _apply(rt: Runtime, subscriber_id: int, form: Any) -> Subscriber | None:
    """Store a preferences form; unknown values are ignored, never stored."""
    with rt.db.session() as session:
        row = session.get(Subscriber, subscriber_id)
        if row is None:
            return None
        locale = str(form.get("locale", ""))
        if locale in rt.org.locales:
            row.locale = locale
        pref = str(form.get("alert_pref", ""))
        if pref in ALERT_PREFS:
            row.alert_pref = pref
        topics = [" ".join(str(t).split()) for t in form.getlist("topics") if str(t).strip()][:100]
        row.topics = topics
        row.topic_keys = keys_of(topics)
        country = str(form.get("country", "")).upper()
        if country == "" or (len(country) == 2 and country.isalpha()):
            row.country = country or None
        return row
