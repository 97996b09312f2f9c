"""Publishing routes a statement: an alert campaign at once, or a place in the next digest."""

from __future__ import annotations

from dataclasses import dataclass

from mailer.campaigns.languages import check_announcement
from mailer.campaigns.plan import announce
from mailer.errors import CampaignError
from mailer.org import OrgProfile
from mailer.statements.repository import group_of, load, mark_published
from mailer.store.db import Database

__all__ = ["Publication", "publish"]


@dataclass(frozen=True, slots=True)
class Publication:
    """What publishing did: the alert campaign (None for news, which waits for the digest)."""

    translation_key: str
    campaign_id: int | None
    created: bool

    @property
    def routed_to_digest(self) -> bool:
        """News: no alert; the next digest carries it."""
        return self.campaign_id is None


def publish(
    db: Database, org: OrgProfile, statement_id: str, *, missing: str | None = None
) -> Publication:
    """Stamp the group published; `urgency: alert` (in any translation) announces it now."""
    with db.session() as session:
        statement = load(session, statement_id)
        refusal = check_announcement(session, statement.translation_key, org).refusal()
        if refusal is not None:
            raise CampaignError(refusal)  # before anything is stamped: nothing half-published
        mark_published(session, statement.translation_key)
        alert = any(v.urgency == "alert" for v in group_of(session, statement.translation_key))
    if not alert:
        return Publication(statement.translation_key, None, False)
    campaign_id, created = announce(db, org, statement_id, missing=missing or org.missing)
    return Publication(statement.translation_key, campaign_id, created)
