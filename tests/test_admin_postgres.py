"""The second half of issue #17 on both stores: once per person, status by language, the digest per person."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mailer.campaigns.digest import create_digest
from mailer.campaigns.publish import publish
from mailer.config import load_settings
from mailer.runtime import build_runtime
from tests.inprocess import EXAMPLES, InProcess

EVERYONE = 'status = "subscribed"'


class _On(InProcess):
    """InProcess on a given database URL (SQLite or a private PostgreSQL schema)."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        super().__init__(tmp_path)
        self.rt.db.dispose()
        self.settings = load_settings(
            {
                "MAILER_DATABASE_URL": database_url,
                "MAILER_DATA_DIR": str(tmp_path / "data"),
                "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
                "MAILER_SECRET_KEY": "in-process-test-key-of-the-test-suite-0123",
            }
        )
        self.rt = build_runtime(self.settings, transport=self.transport)


def test_once_per_person_status_and_digest_on_both_stores(
    tmp_path: Path, database_url: str
) -> None:
    run = _On(tmp_path, database_url)
    try:
        run.statements("nso-export-licence.fr.txt", "nso-export-licence.ar.md")
        run.people(
            "email,locale,topics,alerts\n"
            "nl@example.org,nl,,true\n"
            "quiet@example.org,fr,,none\n"
            "detention@example.org,fr,détention,false\n"
        )
        first = run.send("nso-export-licence-ar", segment=EVERYONE)
        assert first["sent"] == 2 and first["skipped_reasons"] == {"no emails for now": 1}
        rows = {(r["language"], r["version"]): r["sent"] for r in first["by_language"]}
        assert rows[("nl", "fr")] == 1
        second = run.send("nso-export-licence-fr", segment=EVERYONE)
        assert second["sent"] == 0
        assert second["skipped_reasons"] == {"already received": 2, "no emails for now": 1}
        assert run.send("nso-export-licence-fr", segment=EVERYONE, again=True)["sent"] == 2
        path = tmp_path / "visit.fr.md"
        path.write_text(
            "---\nid: visit-fr\ntitle: Visite de prison\nlang: fr\ntranslation_key: visit\n"
            "urgency: news\ntopics: [détention]\n---\nUne visite, pour le digest.\n",
            encoding="utf-8",
        )
        from mailer.statements import parse_file
        from mailer.statements.repository import save

        with run.rt.db.session() as session:
            save(session, parse_file(path))
        publish(run.rt.db, run.rt.org, "visit-fr")
        digest = create_digest(run.rt.db, now=dt.datetime.now(dt.UTC))
        assert digest is not None
        status = run.resume(digest)
        # nl@ received the NSO statement and does not follow détention, but has no topics:
        # only the visit; detention@ only the visit too; quiet@ nothing.
        assert status["sent"] == 2
        texts = {
            str(m["To"]): m.get_body(("plain",)).get_content()
            for m in run.messages()
            if m["X-Mailer-Campaign"] == str(digest)
        }
        assert set(texts) == {"nl@example.org", "detention@example.org"}
        assert all("Visite de prison" in t and "NSO" not in t for t in texts.values())
    finally:
        run.rt.db.dispose()
