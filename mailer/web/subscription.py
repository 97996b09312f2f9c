"""Unsubscribe (a page, and RFC 8058 one-click) and double opt-in: only the POST acts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer.runtime import Runtime
from mailer.store.models import Subscriber
from mailer.subscribers.actions import unsubscribe_row
from mailer.subscribers.optin import CONFIRM_MAX_AGE, confirm
from mailer.web.pages import page, page_locale
from mailer.web.people import not_found, personal_links, subscriber_of

__all__ = ["subscription_routes"]


def subscription_routes(rt: Runtime) -> list[Route]:
    """`/u/{token}` and `/confirm/{token}`."""

    async def unsubscribe(request: Request) -> Response:
        person = subscriber_of(rt, request.path_params["token"], "unsubscribe")
        if person is None:
            return not_found(rt)
        locale = page_locale(rt.org, person.locale)
        if request.method != "POST":
            # Link scanners and security gateways fetch every link: showing changes nothing.
            return page(
                rt.org,
                locale,
                "unsubscribe",
                title_msgid="Unsubscribe",
                **personal_links(rt, person),
            )
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
            return not_found(rt)
        with rt.db.session() as session:
            person = session.get(Subscriber, subscriber_id)
        if person is None:
            return not_found(rt)
        locale = page_locale(rt.org, person.locale)
        if request.method != "POST":
            return page(rt.org, locale, "confirm", title_msgid="One more step")
        confirmed = confirm(rt, token)
        if confirmed is None:
            return not_found(rt)
        return page(
            rt.org,
            locale,
            "confirmed",
            title_msgid="Thank you, your subscription is confirmed",
            **personal_links(rt, confirmed),
        )

    return [
        Route("/u/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/confirm/{token}", confirm_page, methods=["GET", "POST"]),
    ]
