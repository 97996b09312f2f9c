"""View online: the message a person was sent, and nothing else."""

from __future__ import annotations

import re

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from mailer.runtime import Runtime
from mailer.store.models import Delivery
from mailer.web.people import not_found, subscriber_of

__all__ = ["EMAIL_POLICY", "email_policy", "view_routes"]

# What the email needs and nothing remote: its own inline styles and embedded images; no
# script, no frame, no form, no font or image from elsewhere. `sandbox` as well: should
# content ever carry markup, it runs in an origin of its own (links still open).
EMAIL_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)


def email_policy(image_hosts: tuple[str, ...]) -> str:
    """EMAIL_POLICY, with the image hosts the organisation allows (`image_hosts`) added."""
    if not image_hosts:
        return EMAIL_POLICY
    hosts = " ".join(f"https://{host}" for host in image_hosts)
    return EMAIL_POLICY.replace("img-src data:;", f"img-src data: {hosts};")


# Ids are positive 63-bit integers (SQLite's and PostgreSQL's BIGINT): a longer number is no id.
_CAMPAIGN_ID = re.compile(r"[1-9][0-9]{0,17}")


def view_routes(rt: Runtime) -> list[Route]:
    """`/view/{campaign}/{token}`."""

    async def view(request: Request) -> Response:
        campaign = request.path_params["campaign"]
        person = subscriber_of(rt, request.path_params["token"], "view")
        if person is None or _CAMPAIGN_ID.fullmatch(campaign) is None:
            return not_found(rt)
        campaign_id = int(campaign)
        with rt.db.session() as session:
            # Only a message that was sent: the planner writes rows for everyone it looked at
            # (skipped, held, failed), and a segment's campaign is not everyone's to read.
            row = session.execute(
                select(Delivery.statement_id, Delivery.locale).where(
                    Delivery.campaign_id == campaign_id,
                    Delivery.subscriber_id == person.id,
                    Delivery.status == "sent",
                )
            ).one_or_none()
        if row is None or row.statement_id is None or row.locale is None:
            return not_found(rt)
        # The sending code (rendering, composing) is loaded by the first view, not at start.
        from mailer.campaigns.links import recipient_for
        from mailer.campaigns.run import template_for

        # The version and locale that were sent, as the ledger recorded them.
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
            template.variant.html.fill(fields),
            headers={
                "Content-Security-Policy": email_policy(rt.org.image_hosts),
                "Cache-Control": "no-store",
            },
        )

    return [Route("/view/{campaign}/{token}", view, methods=["GET"])]
