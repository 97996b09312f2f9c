"""A planned campaign of `people` English subscribers on a private database, for tests."""

from __future__ import annotations

from pathlib import Path

from mailer.campaigns.plan import create_campaign, plan
from mailer.config import load_settings
from mailer.runtime import Runtime, build_runtime
from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.subscribers.importer import import_csv
from mailer.transport.memory import MemoryTransport
from tests.inprocess import EXAMPLES


def planned_campaign(
    tmp_path: Path,
    people: int,
    *,
    database_url: str | None = None,
    transport: MemoryTransport | None = None,
    **extra: str,
) -> tuple[Runtime, MemoryTransport, int]:
    """(runtime, its recording transport, campaign id): planned here, as a resume finds it."""
    settings = load_settings(
        {
            "MAILER_DATABASE_URL": database_url or f"sqlite:///{tmp_path}/mailer.db",
            "MAILER_DATA_DIR": str(tmp_path / "data"),
            "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
            "MAILER_SECRET_KEY": "planned-test-secret-key-0123456789",
            **extra,
        }
    )
    transport = transport or MemoryTransport()
    rt = build_runtime(settings, transport=transport)
    with rt.db.session() as session:
        save(session, parse_file(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    csv = tmp_path / "people.csv"
    csv.write_text(
        "email,locale\n" + "".join(f"p{i}@example.org,en\n" for i in range(people)),
        encoding="utf-8",
    )
    import_csv(rt.db, csv, consented=True)
    with rt.db.session() as session:
        campaign = create_campaign(session, org=rt.org, statement_id="nso-export-licence-en")
    plan(rt.db, rt.org, campaign.id)
    return rt, transport, campaign.id
