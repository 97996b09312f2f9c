"""What the subscriber pages share: the person a token names, their links, the 404 page."""

from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse

from mailer.runtime import Runtime
from mailer.store.models import Subscriber
from mailer.web.pages import page, page_locale

__all__ = ["not_found", "personal_links", "subscriber_of"]


def subscriber_of(rt: Runtime, token: str, purpose: str) -> Subscriber | None:
    """The subscriber a link token names for this purpose, or None (forged, altered, erased)."""
    subscriber_id = rt.signer.verify(token, purpose)
    if subscriber_id is None:
        return None
    with rt.db.session() as session:
        return session.get(Subscriber, subscriber_id)


def personal_links(rt: Runtime, person: Subscriber) -> dict[str, Any]:
    """The preference and unsubscribe links of the pages' footers."""
    base = rt.settings.public_url
    return {
        "preferences_url": f"{base}/preferences/{rt.signer.sign(person.id, 'preferences')}",
        "unsubscribe_url": f"{base}/u/{rt.signer.sign(person.id, 'unsubscribe')}",
    }


def not_found(rt: Runtime) -> HTMLResponse:
    """The one answer to every link that is not valid: it says nothing about anyone."""
    locale = page_locale(rt.org, None)
    return page(rt.org, locale, "not_found", status=404, title_msgid="This link is not valid")
