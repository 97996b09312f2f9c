"""The states of a delivery row and of a campaign, as the database stores them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ACTIVE", "BUSY", "OPEN", "CampaignState", "DeliveryState"]


class DeliveryState(StrEnum):
    """What happened to one campaign for one subscriber."""

    PENDING = "pending"  # to send (planned, retried, given back)
    HELD = "held"  # waiting for a translation in the subscriber's language
    SENDING = "sending"  # claimed by a batch, under a lease its heartbeat renews
    SENT = "sent"  # the next hop accepted it (final)
    FAILED = "failed"  # refused for good, or given up after retries (final)
    SKIPPED = "skipped"  # not for this person, with the reason (final)
    CANCELLED = "cancelled"  # the campaign was cancelled before it was sent (final)


class CampaignState(StrEnum):
    """Where a campaign is in its life."""

    PLANNING = "planning"  # created, its ledger not (fully) written yet
    SCHEDULED = "scheduled"  # waits for its send_at
    RUNNING = "running"  # being sent (and, for a large audience, still planned)
    PAUSED = "paused"  # stopped by an operator, the error brake or a relay refusing us
    MISSED = "missed"  # its time passed by more than the grace: waits for a resume
    CANCELLED = "cancelled"  # never sends the rest (final)
    DONE = "done"  # every row final (final)


# Rows that keep a campaign from being done.
BUSY = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.HELD)
# Rows a cancel turns into cancelled (a row being sent is given back by its batch).
OPEN = (DeliveryState.PENDING, DeliveryState.HELD)
# Campaign states in which work may still start.
ACTIVE = (CampaignState.PLANNING, CampaignState.SCHEDULED, CampaignState.RUNNING)
