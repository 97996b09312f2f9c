"""The ledger: the states of deliveries and campaigns, their transitions, the send journal.

Only this package writes a delivery's `status` or a campaign's `state`; every transition is
one named function (`deliveries`, `campaigns`), one SQL statement where the database allows.

A delivery: one row per (campaign, subscriber).

    plan ──┬──► pending ──claim──► sending ──server accepted (journal, fold)──► sent
           │     ▲    ▲              │ │ │
           │     │    └──────────────┘ │ └──refused, recipient's fault──► failed + bounced
           │     │  temporary (attempt  │     refused, the message's fault ─► failed
           │     │  spent), throttled,  │     last attempt / deadline ──────► failed
           │     │  given back (pause,  └──gone since planning──► skipped
           │     │  relay refuses us),
           │     │  lease expired (sweep)
           ├──► held ──translation arrived, or wait over──► pending
           └──► skipped
    pending | held ──cancel──► cancelled        sending ──cancelled mid-batch──► cancelled

A `sending` row carries a lease (`MAILER_LEASE_SECONDS`) that its batch's heartbeat renews
while the batch lives; the sweep gives rows of a dead worker back when it runs out.

A campaign:

    create ──► planning ──first page planned──► running ──every row final──► done
                 │  ▲                              │ ▲
      --at ──► scheduled ──due──┘     pause, error  │ │ resume
                 │               brake, the relay  ▼ │
                 └──overdue──► missed    refuses ► paused
                                │ resume ▲ our sender
                                └────────┘ (to running, or planning if never started)
    any state but done and cancelled ──cancel──► cancelled
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.exports import load_export

if TYPE_CHECKING:
    from mailer.ledger import campaigns, deliveries
    from mailer.ledger.journal import journal_directory, replay_orphans
    from mailer.ledger.recorder import Recorder
    from mailer.ledger.states import CampaignState, DeliveryState

__all__ = [
    "CampaignState",
    "DeliveryState",
    "Recorder",
    "campaigns",
    "deliveries",
    "journal_directory",
    "replay_orphans",
]

_EXPORTS = {
    "CampaignState": "mailer.ledger.states",
    "DeliveryState": "mailer.ledger.states",
    "Recorder": "mailer.ledger.recorder",
    "campaigns": "mailer.ledger.campaigns",
    "deliveries": "mailer.ledger.deliveries",
    "journal_directory": "mailer.ledger.journal",
    "replay_orphans": "mailer.ledger.journal",
}


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)
