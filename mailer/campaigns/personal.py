"""One recipient's message as the transport takes it, built only when the transport is ready."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from mailer.bounces.verp import verp_sender
from mailer.campaigns.links import recipient_for
from mailer.compose import MessageTemplate, Recipient, build_template
from mailer.runtime import Runtime
from mailer.transport.base import Outgoing
from mailer.transport.classify import Reply

if TYPE_CHECKING:
    from mailer.render.variant import RenderedEmail

__all__ = [
    "PersonalMessage",
    "campaign_outgoing",
    "deliver",
    "envelope_sender",
    "org_template",
    "outgoing",
]


def org_template(
    rt: Runtime,
    variant: RenderedEmail,
    *,
    locale: str,
    campaign_id: int,
    list_headers: bool = True,
) -> MessageTemplate:
    """The message template of a rendered variant, with the organisation's sender, envelope
    and list for that locale (once per variant: everything personal is filled in later)."""
    return build_template(
        variant,
        sender_name=rt.org.sender_name(locale),
        sender_address=rt.org.from_address,
        envelope_from=rt.org.envelope_from,
        list_name=rt.org.name,
        list_id=rt.org.list_id,
        campaign_id=campaign_id,
        list_headers=list_headers,
    )


def envelope_sender(rt: Runtime, campaign_id: int, subscriber_id: int) -> str:
    """The envelope sender (RFC 5321 MAIL FROM, where bounces return) of one recipient's
    message: the one place that decides it, for campaigns, test sends and confirmations
    (campaign 0). With a bounce address it is VERP, `local+TOKEN@domain`, so that a bounce
    names the campaign and the subscriber it is about."""
    return verp_sender(rt.org, rt.settings.secret_key, campaign_id, subscriber_id)


class PersonalMessage:
    """One recipient's message, built when the transport asks for it: its links are signed
    while the server stores the message before, not between two messages."""

    __slots__ = ("_make", "_recipient", "_rt", "_template")

    def __init__(
        self, rt: Runtime, template: MessageTemplate, recipient: Callable[[], Recipient]
    ) -> None:
        self._rt, self._template, self._make = rt, template, recipient
        self._recipient: Recipient | None = None

    def recipient(self) -> Recipient:
        """The recipient's address, name and signed links (made once)."""
        if self._recipient is None:
            self._recipient = self._make()
        return self._recipient

    def message(self) -> bytes:
        """The message bytes, DKIM-signed when a key is configured."""
        message = self._template.build(self.recipient())
        dkim = self._rt.dkim
        return dkim.sign(message) if dkim is not None else message

    def data(self) -> bytes:
        """The unsigned message as SMTP DATA sends it (dot-stuffed, final dot)."""
        return self._template.build_data(self.recipient())


def outgoing(
    rt: Runtime,
    template: MessageTemplate,
    *,
    key: int,
    campaign_id: int,
    subscriber_id: int,
    email: str,
    recipient: Callable[[], Recipient],
) -> Outgoing:
    """The one message type every send uses (campaigns, test sends, confirmations)."""
    personal = PersonalMessage(rt, template, recipient)
    return Outgoing(
        key,
        envelope_sender(rt, campaign_id, subscriber_id),
        email,
        personal.message,
        # Unsigned, the SMTP payload comes stuffed from parts stuffed once per variant; a
        # DKIM signature covers the unstuffed message, so the transport stuffs that.
        None if rt.dkim is not None else personal.data,
    )


def campaign_outgoing(
    rt: Runtime,
    template: MessageTemplate,
    *,
    key: int,
    campaign_id: int,
    subscriber_id: int,
    email: str,
    name: str,
    message_id: str | None = None,
) -> Outgoing:
    """A campaign's (or a test send's) message to one subscriber, its links signed late."""
    return outgoing(
        rt,
        template,
        key=key,
        campaign_id=campaign_id,
        subscriber_id=subscriber_id,
        email=email,
        recipient=functools.partial(
            recipient_for,
            signer=rt.signer,
            org=rt.org,
            public_url=rt.settings.public_url,
            campaign_id=campaign_id,
            subscriber_id=subscriber_id,
            email=email,
            name=name,
            message_id=message_id,
        ),
    )


def deliver(rt: Runtime, messages: list[Outgoing]) -> dict[int, Reply]:
    """Send messages outside a campaign (test sends, confirmations) through the same transport,
    rate limits and message type as campaigns; the reply to each, by key."""
    replies: dict[int, Reply] = {}

    def limited() -> Iterator[Outgoing]:
        for message in messages:
            rt.limiter.acquire(message.recipient.rpartition("@")[2])
            yield message

    rt.transport.stream(limited(), lambda item, reply: replies.__setitem__(item.key, reply))
    return replies
