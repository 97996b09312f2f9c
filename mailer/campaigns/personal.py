"""One recipient's message, built only when the transport is ready for it."""

from __future__ import annotations

from mailer.campaigns.links import recipient_for
from mailer.compose import MessageTemplate, Recipient
from mailer.runtime import Runtime

__all__ = ["PersonalMessage"]


class PersonalMessage:
    """One recipient's message, built when the transport asks for it: its links are signed
    while the server stores the message before, not between two messages."""

    __slots__ = ("_args", "_recipient", "_rt", "_template")

    def __init__(
        self,
        rt: Runtime,
        template: MessageTemplate,
        campaign_id: int,
        subscriber_id: int,
        email: str,
        name: str,
        message_id: str,
    ) -> None:
        self._rt, self._template = rt, template
        self._args = (campaign_id, subscriber_id, email, name, message_id)
        self._recipient: Recipient | None = None

    def recipient(self) -> Recipient:
        """The recipient's address, name and signed links (made once)."""
        if self._recipient is None:
            campaign_id, subscriber_id, email, name, message_id = self._args
            self._recipient = recipient_for(
                signer=self._rt.signer,
                org=self._rt.org,
                public_url=self._rt.settings.public_url,
                campaign_id=campaign_id,
                subscriber_id=subscriber_id,
                email=email,
                name=name,
                message_id=message_id,
            )
        return self._recipient

    def message(self) -> bytes:
        """The message bytes, DKIM-signed when a key is configured."""
        message = self._template.build(self.recipient())
        dkim = self._rt.dkim
        return dkim.sign(message) if dkim is not None else message

    def data(self) -> bytes:
        """The unsigned message as SMTP DATA sends it (dot-stuffed, final dot)."""
        return self._template.build_data(self.recipient())
