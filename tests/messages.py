"""One realistic composed message, the way a campaign builds it, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

from mailer.compose import Recipient, build_template
from mailer.org import OrgProfile, load_profile
from mailer.render import render_email
from mailer.render.variant import RenderedEmail
from mailer.statements import parse_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOKEN = "eyJzIjoxMn0.Zp4Q"


def example_org() -> OrgProfile:
    """The example organisation's profile."""
    return load_profile(EXAMPLES / "mailer.toml")


def compose(variant: RenderedEmail, recipient: Recipient, *, campaign_id: int = 12) -> bytes:
    """The message a campaign of the example organisation builds for one recipient."""
    org = example_org()
    template = build_template(
        variant,
        sender_name=org.sender_name(variant.locale),
        sender_address=org.from_address,
        envelope_from=org.envelope_from,
        list_name=org.name,
        list_id=org.list_id,
        campaign_id=campaign_id,
        list_headers=variant.kind != "confirm",
    )
    return template.build(recipient)


def sample_message(variant: RenderedEmail | None = None, *, campaign_id: int = 12) -> bytes:
    """The seed alert in French (or `variant`) for one subscriber, with real-looking links."""
    org = example_org()
    if variant is None:
        statement = parse_file(EXAMPLES / "statements" / "nso-export-licence.fr.txt")
        variant = render_email("alert", statement, locale="fr", org=org)
    template = build_template(
        variant,
        sender_name=org.sender_name(variant.locale),
        sender_address=org.from_address,
        envelope_from=org.envelope_from,
        list_name=org.name,
        list_id=org.list_id,
        campaign_id=campaign_id,
        list_headers=variant.kind != "confirm",
    )
    return template.build(
        Recipient(
            email="sam.peeters@example.net",
            name="Sam Peeters",
            message_id=f"<{campaign_id}.3f9a1c0b7d2e@example.org>",
            unsubscribe_url=f"https://mail.example.org/u/{TOKEN}",
            confirm_url=f"https://mail.example.org/confirm/{TOKEN}",
            unsubscribe_mailto=f"mailto:unsubscribe@example.org?subject=unsubscribe%20{TOKEN}",
            preferences_url=f"https://mail.example.org/preferences/{TOKEN}",
            view_url=f"https://mail.example.org/view/{campaign_id}/{TOKEN}",
        )
    )
