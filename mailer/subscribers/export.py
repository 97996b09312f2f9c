"""Export subscribers as a CSV that `subscribers import` reads back unchanged, safe to open in a
spreadsheet.

A cell a spreadsheet would run as a formula (it begins with = + - @, a tab or a carriage
return: OWASP's "CSV Injection" list) gets a single quote in front, which spreadsheets show
as text; the importer takes that quote off again (`restore`), so an export imported back
gives the same values. A name or topic typed into a web form is the subscriber's, not ours.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from mailer.private import private_text
from mailer.store.db import Database
from mailer.store.models import Subscriber
from mailer.subscribers.cells import neutralise, restore
from mailer.subscribers.segments import known_attributes

__all__ = ["CONSENT_COLUMNS", "EXPORT_COLUMNS", "export_csv", "neutralise", "restore"]

EXPORT_COLUMNS = ("email", "name", "locale", "country", "topics", "alerts", "lists", "status")
# The consent record, written after the columns above and before the attributes.
CONSENT_COLUMNS = ("consent_at", "consent_source", "consent_method")
_PAGE = 5000


def _row(row: Subscriber, attributes: list[str]) -> list[str]:
    alerts = {"alerts": "true", "digest": "false"}.get(row.alert_pref, row.alert_pref)
    cells = [
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
        row.consent_method or "",
        *(str(row.attributes.get(name, "")) for name in attributes),
    ]
    return [neutralise(cell) for cell in cells]


def export_csv(db: Database, path: Path) -> int:
    """Write every subscriber (keyset pages, flat memory), their attributes as columns after
    the known ones; returns how many."""
    with db.session() as session:
        attributes = [
            name
            for name in known_attributes(session)
            if name not in {*EXPORT_COLUMNS, *CONSENT_COLUMNS}
        ]
    count = 0
    last_id = 0
    with private_text(path) as handle:
        writer = csv.writer(handle)
        writer.writerow([neutralise(c) for c in (*EXPORT_COLUMNS, *CONSENT_COLUMNS, *attributes)])
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
            writer.writerows(_row(row, attributes) for row in rows)
            count += len(rows)
            last_id = rows[-1].id
