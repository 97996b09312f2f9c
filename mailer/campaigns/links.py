"""The personal links of an email: signed unsubscribe, preferences and view-online URLs."""

from __future__ import annotations

from mailer.compose import Recipient
from mailer.org import OrgProfile
from mailer.tokens import TokenSigner

__all__ = ["make_message_id", "recipient_for"]


def make_message_id(
    signer: TokenSigner, org: OrgProfile, campaign_id: int, subscriber_id: int
) -> str:
    """Stable for a (campaign, subscriber) pair of this installation, so a duplicate is
    recognisable; reveals no subscriber id. The signer's digest is keyed by the secret and
    the installation id, so another database with the same key makes other Message-IDs."""
    return f"<{campaign_id}.{signer.digest('message-id', campaign_id, subscriber_id)}@{org.sender_domain}>"


def recipient_for(
    *,
    signer: TokenSigner,
    org: OrgProfile,
    public_url: str,
    campaign_id: int,
    subscriber_id: int,
    email: str,
    name: str,
    message_id: str | None = None,
) -> Recipient:
    """Everything personal in one recipient's message (`message_id` when already made)."""
    unsubscribe = signer.sign(subscriber_id, "unsubscribe")
    return Recipient(
        email=email,
        name=name,
        message_id=message_id or make_message_id(signer, org, campaign_id, subscriber_id),
        unsubscribe_url=f"{public_url}/u/{unsubscribe}",
        # Tokens are URL-safe base64: only the space needs quoting.
        unsubscribe_mailto=f"mailto:{org.mailto_unsubscribe}?subject=unsubscribe%20{unsubscribe}",
        preferences_url=f"{public_url}/preferences/{signer.sign(subscriber_id, 'preferences')}",
        view_url=f"{public_url}/view/{campaign_id}/{signer.sign(subscriber_id, 'view')}",
    )
