"""Which delivery a report is about: by the VERP token, else by the original Message-ID,
else by the recipient's address (and only if we mailed that address).

The token and the Message-ID are keyed with MAILER_SECRET_KEY, so a report that carries
either one was made from a message we sent. An address alone is weak evidence (anyone can
write a report naming anyone): it matches only a person the ledger says we mailed, or a
pending person whose confirmation email (its keyed Message-ID) the report returns, and the
recorder keeps such a match against the person without acting on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.bounces.assess import Finding
from mailer.bounces.read import Report
from mailer.bounces.verp import find_delivery_token
from mailer.org import OrgProfile
from mailer.store.models import Campaign, Delivery, Subscriber
from mailer.subscribers.store import email_key
from mailer.tokens import TokenSigner

__all__ = ["Match", "Matcher"]

_OURS = re.compile(r"^<(\d{1,12})\.([0-9a-f]{24})@([^<>\s]+)>$")
_CONFIRM = re.compile(r"^<confirm\.([0-9a-f]{12})\.([0-9a-f]{24})@([^<>\s]+)>$")


@dataclass(frozen=True, slots=True)
class Match:
    """The subscriber and campaign a finding is about (either may be unknown)."""

    subscriber_id: int | None
    campaign_id: int | None = None
    by: str | None = None  # "verp", "message-id" or "address"
    note: str = ""  # why it matched nobody


class Matcher:
    """Matches the findings of reports within one database session."""

    def __init__(
        self, session: Session, *, signer: TokenSigner, org: OrgProfile, secret_key: str
    ) -> None:
        self.session, self.signer, self.org, self.secret_key = session, signer, org, secret_key
        self._tokens: dict[tuple[str, ...], tuple[int, int] | None] = {}
        self._people: dict[str, Subscriber | None] = {}
        self._campaigns: dict[int, bool] = {}

    def _token(self, report: Report) -> tuple[int, int] | None:
        if report.envelope not in self._tokens:
            self._tokens[report.envelope] = find_delivery_token(self.secret_key, report.envelope)
        return self._tokens[report.envelope]

    def preload(self, reports: Iterable[Report]) -> None:
        """Load the people and campaigns these reports name in three queries (a fetch
        records fifty reports a transaction)."""
        ids: set[int] = set()
        campaigns: set[int] = set()
        keys: set[str] = set()
        for report in reports:
            token = self._token(report)
            if token is not None:
                campaigns.add(token[0])
                ids.add(token[1])
            keys.update(email_key(r.address) for r in report.recipients if r.address)
        if ids:
            list(self.session.scalars(select(Subscriber).where(Subscriber.id.in_(ids))))
        if keys:
            found = self.session.scalars(select(Subscriber).where(Subscriber.email_key.in_(keys)))
            people = {row.email_key: row for row in found}
            self._people.update({key: people.get(key) for key in keys})
        if campaigns:
            existing = set(
                self.session.scalars(select(Campaign.id).where(Campaign.id.in_(campaigns)))
            )
            self._campaigns.update({c: c in existing for c in campaigns})

    def match(self, report: Report, finding: Finding) -> Match:
        """The delivery one finding of a report is about."""
        token = self._token(report)
        if token is not None:
            return self._by_token(*token)
        message_ids = [m for m in (report.returned.message_id, *report.references) if m]
        person = self._person(finding.address)
        for message_id in message_ids:
            found = self._by_message_id(message_id, person)
            if found is not None:
                return found
        if person is None:
            return Match(None, note="an address we never mailed" if finding.address else "")
        campaign = report.returned.campaign
        sent = select(Delivery.campaign_id).where(
            Delivery.subscriber_id == person.id, Delivery.status == "sent"
        )
        if campaign is not None:
            sent = sent.where(Delivery.campaign_id == campaign)
        latest = self.session.scalars(sent.order_by(Delivery.sent_at.desc()).limit(1)).first()
        if latest is not None:
            return Match(person.id, latest, "address")
        if person.status == "pending" and any(
            self._our_confirmation(m, person) for m in message_ids
        ):
            return Match(person.id, None, "message-id")  # a returned confirmation email
        return Match(None, note="an address we never mailed")

    def _by_token(self, campaign_id: int, subscriber_id: int) -> Match:
        if campaign_id not in self._campaigns:
            self._campaigns[campaign_id] = self.session.get(Campaign, campaign_id) is not None
        known = campaign_id > 0 and self._campaigns[campaign_id]
        campaign = campaign_id if known else None  # 0: a confirmation email
        if self.session.get(Subscriber, subscriber_id) is None:
            return Match(None, campaign, "verp", "the person was erased")
        return Match(subscriber_id, campaign, "verp")

    def _person(self, address: str | None) -> Subscriber | None:
        if not address:
            return None
        key = email_key(address)
        if key not in self._people:
            self._people[key] = self.session.scalars(
                select(Subscriber).where(Subscriber.email_key == key)
            ).one_or_none()
        return self._people[key]

    def _our_domain(self, domain: str) -> bool:
        return domain.lower() == self.org.sender_domain.lower()

    def _our_confirmation(self, message_id: str, person: Subscriber) -> bool:
        found = _CONFIRM.match(message_id)
        return (
            found is not None
            and self._our_domain(found.group(3))
            and self.signer.digest("confirm", person.id, found.group(1)) == found.group(2)
        )

    def _by_message_id(self, message_id: str, person: Subscriber | None) -> Match | None:
        ours = _OURS.match(message_id)
        if ours is None or not self._our_domain(ours.group(3)):
            return None
        campaign_id, digest = int(ours.group(1)), ours.group(2)
        if person is not None and (
            self.signer.digest("message-id", campaign_id, person.id) == digest
        ):
            return Match(person.id, campaign_id, "message-id")
        # The final recipient is not the address we sent to (a forward): the ledger knows.
        subscriber_id = self.session.scalars(
            select(Delivery.subscriber_id).where(
                Delivery.campaign_id == campaign_id, Delivery.message_id == message_id
            )
        ).first()
        if subscriber_id is not None:
            return Match(subscriber_id, campaign_id, "message-id")
        return None
