"""What the example data should produce, computed from the files independently of mailer."""

from __future__ import annotations

import csv
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NSO_TOPICS = {"nso group", "surveillance"}
TITLES = {
    "fr": "Israël, Rejet de la demande d’annulation de la licence d’exportation de NSO Group",
}


def eligible_for_nso(csv_path: Path = EXAMPLES / "subscribers.csv") -> dict[str, str]:
    """email -> locale of every subscriber the NSO alert must reach."""
    chosen: dict[str, str] = {}
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            topics = {t.strip().casefold() for t in row["topics"].split(";") if t.strip()}
            if row["status"] != "subscribed" or row["alerts"].strip().lower() != "true":
                continue
            if topics and not topics & NSO_TOPICS:
                continue
            chosen[row["email"].strip().lower()] = row["locale"]
    return chosen


def language_of(locale: str) -> str:
    """fr_BE -> fr."""
    return locale.split("_")[0]
