"""Honour `mailto:` unsubscribes: read the RFC 5322 message a mail server pipes to `mailer inbound`."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from mailer.runtime import Runtime
from mailer.store.models import Subscriber
from mailer.subscribers.actions import unsubscribe_row

__all__ = ["handle_inbound"]

_TOKEN = re.compile(r"unsubscribe\s+([A-Za-z0-9_.\-]+)", re.IGNORECASE)


def handle_inbound(rt: Runtime, raw: bytes) -> str:
    """Unsubscribe the person whose signed token is in the subject; says what happened."""
    message = message_from_bytes(raw, policy=policy.default)
    subject = str(message.get("Subject", ""))
    match = _TOKEN.search(subject)
    if match is None:
        return "ignored: no unsubscribe token in the subject"
    subscriber_id = rt.signer.verify(match.group(1), "unsubscribe")
    if subscriber_id is None:
        return "ignored: the token is not valid"
    with rt.db.session() as session:
        row = session.get(Subscriber, subscriber_id)
        if row is None:
            return "ignored: nobody to unsubscribe"
        changed = unsubscribe_row(session, row, how="mailto")
    return "unsubscribed" if changed else "already unsubscribed"
