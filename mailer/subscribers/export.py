"""Export subscribers as a CSV that `subscribers import` reads back unchanged."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from mailer.store.db import Database
from mailer.store.models import Subscriber

__all__ = ["EXPORT_COLUMNS", "export_csv"]

EXPORT_COLUMNS = ("email", "name", "locale", "country", "topics", "alerts", "lists", "status")
_PAGE = 5000


def export_csv(db: Database, path: Path) -> int:
    """Write every subscriber (keyset pages, flat memory); returns how many."""
    count = 0
    last_id = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*EXPORT_COLUMNS, "consent_at", "consent_source"])
        while True:
            with db.session() as session:
                rows = list(
                    session.scalars(
                        select(Subscriber)
                        .where(Subscriber.id > last_id)
                        .order_by(Subscriber.id)
                        .limit(_PAGE)
                    )
                )
            if not rows:
                return count
            for row in rows:
                alerts = {"alerts": "true", "digest": "false"}.get(row.alert_pref, row.alert_pref)
                writer.writerow(
                    [
                        row.email,
                        row.name,
                        row.locale or "",
                        row.country or "",
                        ";".join(row.topics),
                        alerts,
                        ";".join(row.lists),
                        row.status,
                        row.consent_at.isoformat() if row.consent_at else "",
                        row.consent_source or "",
                    ]
                )
            count += len(rows)
            last_id = rows[-1].id
