"""Which of a digest's statements each person gets: those of their topics, minus what they received."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.campaigns.audience import ALREADY, DIGEST, group_topics
from mailer.ledger import DeliveryState
from mailer.statements.repository import group_of
from mailer.store.models import Campaign, Delivery, Subscriber

__all__ = ["DigestItems", "digest_items", "items_of", "selection_id"]


@dataclass(frozen=True, slots=True)
class DigestItems:
    """A digest's groups (translation keys, in the campaign's order) and each one's topics."""

    keys: tuple[str, ...]
    topics: tuple[frozenset[str], ...]

    def choose(
        self, topics: Sequence[str], received: set[str]
    ) -> tuple[frozenset[int], str | None]:
        """The items a person gets (indices), or none and why. Routed like alerts: a person
        with no topics gets every statement, one with topics those sharing one (a statement
        with no topics goes to people with none)."""
        wanted = frozenset(t.casefold() for t in topics)
        matching = [i for i, own in enumerate(self.topics) if not wanted or wanted & own]
        if not matching:
            return frozenset(), "topic mismatch"
        chosen = frozenset(i for i in matching if self.keys[i] not in received)
        return chosen, (None if chosen else ALREADY)

    def received(self, session: Session, subscriber_ids: list[int]) -> dict[int, set[str]]:
        """The digest's groups each person already received in an alert or manual campaign."""
        rows = session.execute(
            select(Delivery.subscriber_id, Campaign.translation_key)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(
                Delivery.subscriber_id.in_(subscriber_ids),
                Delivery.status == DeliveryState.SENT,
                Campaign.kind != "digest",
                Campaign.translation_key.in_(self.keys),
            )
        ).all()
        found: dict[int, set[str]] = {}
        for sub_id, key in rows:
            found.setdefault(int(sub_id), set()).add(key)
        return found

    @staticmethod
    def topics_of(session: Session, subscriber_ids: list[int]) -> dict[int, list[str]]:
        """Each person's topics."""
        rows = session.execute(
            select(Subscriber.id, Subscriber.topics).where(Subscriber.id.in_(subscriber_ids))
        ).all()
        return {int(sub_id): list(topics or []) for sub_id, topics in rows}


def digest_items(session: Session, campaign: Campaign) -> DigestItems:
    """The campaign's groups with their topics (every translation's, case-folded)."""
    keys = tuple(str(k) for k in campaign.items)
    return DigestItems(keys, tuple(group_topics(group_of(session, k)) for k in keys))


def selection_id(chosen: frozenset[int], count: int) -> str:
    """What a digest row's statement_id says it carries: `digest` (every item) or
    `digest:MASK` (the items' indices as the bits of a hexadecimal number)."""
    if len(chosen) == count:
        return DIGEST
    return f"{DIGEST}:{sum(1 << i for i in chosen):x}"


def items_of(statement_id: str, count: int) -> list[int]:
    """The item indices a digest row's statement_id names (see `selection_id`)."""
    if statement_id == DIGEST:
        return list(range(count))
    mask = int(statement_id.split(":", 1)[1], 16)
    return [i for i in range(count) if mask >> i & 1]
