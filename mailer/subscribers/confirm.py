"""Double opt-in: send pending subscribers a localized email with a signed, expiring confirm link
(the campaigns' message type, transport, DKIM signature and rate limits)."""

from __future__ import annotations

import functools
import logging
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select

from mailer.campaigns.personal import deliver, org_template, outgoing
from mailer.compose import MessageTemplate, Recipient
from mailer.i18n import available_catalogs
from mailer.ledger import deliveries
from mailer.org import chain_for
from mailer.render.variant import render_confirmation
from mailer.runtime import Runtime
from mailer.store.models import Subscriber
from mailer.subscribers.optin import CONFIRM_MAX_AGE, confirm
from mailer.subscribers.signup import REOPT_IN, SIGNUP_SOURCE
from mailer.transport.classify import Blame, Outcome, judge

__all__ = ["CONFIRM_MAX_AGE", "ConfirmResult", "confirm", "send_confirmations"]

log = logging.getLogger("mailer.confirm")


@dataclass
class ConfirmResult:
    """Confirmations sent, and ids to retry later."""

    sent: int = 0
    retry: list[int] = field(default_factory=list)


def _template(rt: Runtime, locale: str) -> MessageTemplate:
    key = (0, "confirm", locale)
    cached = rt.templates.get(key)
    if cached is None:
        cached = org_template(
            rt,
            render_confirmation(locale=locale, org=rt.org),
            locale=locale,
            campaign_id=0,
            list_headers=False,
        )
        rt.templates[key] = cached
    return cached


def _locale_for(rt: Runtime, locale: str | None) -> str:
    # The first locale of the subscriber's chain the organisation supports and has a catalog
    # for (an email without one would mix languages, and is refused).
    catalogs = set(available_catalogs())
    for code in chain_for(rt.org, locale):
        supported = code in rt.org.locales or code.split("_")[0] in rt.org.locales
        if supported and (code in catalogs or code.split("_")[0] in catalogs):
            return code
    return rt.org.default_locale


def send_confirmations(rt: Runtime, subscriber_ids: list[int]) -> ConfirmResult:
    """One confirmation email per still-pending subscriber (or unsubscribed one who signed up
    again)."""
    result = ConfirmResult()
    with rt.db.session() as session:
        found = session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.name,
                Subscriber.consent_source,
                Subscriber.locale,
                Subscriber.status,
                Subscriber.attributes,
            ).where(
                Subscriber.id.in_(subscriber_ids),
                Subscriber.status.in_(("pending", "unsubscribed")),
            )
        ).all()
    # An unsubscribed person only when they signed up again (their confirmation brings them back).
    # No name typed on the signup page before the person confirms: anyone may type anything
    # there for anyone's address ("Security team: reset your password at ..."), and the
    # organisation's signed email would carry it into their inbox. An admin's import is
    # the organisation's own word.
    people = [
        (sub_id, email, "" if source == SIGNUP_SOURCE else name, locale)
        for sub_id, email, name, source, locale, status, attributes in found
        if status == "pending" or REOPT_IN in (attributes or {})
    ]
    messages = [
        outgoing(
            rt,
            _template(rt, _locale_for(rt, locale)),
            key=subscriber_id,
            campaign_id=0,
            subscriber_id=subscriber_id,
            email=email,
            recipient=functools.partial(_recipient, rt, subscriber_id, email, name),
        )
        for subscriber_id, email, name, locale in people
    ]
    replies = deliver(rt, messages)
    for message in messages:
        reply = replies.get(message.key)
        verdict = judge(reply) if reply is not None else None
        if verdict is not None and verdict.outcome is Outcome.SENT:
            result.sent += 1
        elif verdict is not None and verdict.bounces:
            # The address does not exist: never confirmed, and never mailed again.
            with rt.db.session() as session:
                deliveries.bounce(session, message.key)
        elif (
            verdict is not None
            and verdict.blame is Blame.MESSAGE
            and verdict.outcome is Outcome.PERMANENT
        ):
            log.warning("confirmation refused for its content: %s", reply)
        else:
            # Temporary, throttled, or the relay refusing our sender: try again later.
            log.info("confirmation delayed: %s", reply)
            result.retry.append(message.key)
    return result


def _confirmation_id(rt: Runtime, subscriber_id: int) -> str:
    # Unique per email (mail clients fold messages with one Message-ID), and keyed with the
    # person, so that a returned confirmation proves whose it was (bounces.match).
    nonce = secrets.token_hex(6)
    digest = rt.signer.digest("confirm", subscriber_id, nonce)
    return f"<confirm.{nonce}.{digest}@{rt.org.sender_domain}>"


def _recipient(rt: Runtime, subscriber_id: int, email: str, name: str) -> Recipient:
    token = rt.signer.sign_expiring(subscriber_id)
    return Recipient(
        email=email,
        name=name,
        message_id=_confirmation_id(rt, subscriber_id),
        confirm_url=f"{rt.settings.public_url}/confirm/{token}",
    )
