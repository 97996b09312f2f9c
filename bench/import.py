"""Import N generated subscribers from a CSV and print rows/s and peak RSS.

    .venv/bin/python bench/import.py --rows 1000000

Goal (2 cores): >= 20,000 rows/s on SQLite with peak RSS <= 200 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer.store import open_database
from mailer.subscribers.importer import import_csv

LOCALES = ["fr", "fr_BE", "nl", "nl_BE", "de", "en"]
TOPICS = ["NSO Group", "surveillance", "death penalty", "refugees", "climate justice", ""]


def generate(path: Path, rows: int) -> None:
    """A CSV like a CRM export: names, locales, countries, topics, lists."""
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,name,locale,country,topics,alerts,lists\n")
        for index in range(rows):
            topic = rng.choice(TOPICS)
            handle.write(
                f"person{index}@example{index % 97}.org,Person {index},{rng.choice(LOCALES)},"
                f"BE,{topic},{'true' if index % 5 else 'false'},supporters\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database", default=None, help="SQLAlchemy URL (default: a fresh SQLite file)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as tmp:
        csv_path = Path(tmp) / "people.csv"
        generate(csv_path, args.rows)
        db = open_database(args.database or f"sqlite:///{tmp}/bench.db")
        start = time.perf_counter()
        report = import_csv(db, csv_path, consented=True, parallel=True)
        elapsed = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        reader_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rate = report.accepted / elapsed
    print(
        f"imported {report.accepted:,} rows in {elapsed:.1f} s: {rate:,.0f} rows/s, "
        f"peak RSS {peak_mb:.0f} MB (writer), {reader_mb:.0f} MB (reader process)"
    )
    summary = {
        "rows": report.accepted,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rate),
        "peak_rss_mb": round(peak_mb),
        "reader_rss_mb": round(reader_mb),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
