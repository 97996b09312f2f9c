"""Run real campaigns in this process: a real Celery worker thread (memory:// broker), a recording transport."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mailer.campaigns.plan import create_campaign
from mailer.campaigns.status import campaign_status
from mailer.config import load_settings
from mailer.runtime import Runtime, build_runtime
from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.subscribers.importer import import_csv
from mailer.transport.memory import MemoryTransport

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class InProcess:
    """A private database and outbox; `send` runs a campaign through a real worker to its end."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        batch_size: int = 250,
        org_file: Path | None = None,
        transport: Any = None,
        public_url: str = "http://127.0.0.1:8000",
    ) -> None:
        self.tmp_path = tmp_path
        self.settings = load_settings(
            {
                "MAILER_DATABASE_URL": f"sqlite:///{tmp_path}/mailer.db",
                "MAILER_DATA_DIR": str(tmp_path / "data"),
                "MAILER_ORG_FILE": str(org_file or EXAMPLES / "mailer.toml"),
                "MAILER_BATCH_SIZE": str(batch_size),
                "MAILER_SECRET_KEY": "in-process-test-key-of-the-test-suite-0123",
                "MAILER_PUBLIC_URL": public_url,
            }
        )
        self.transport = transport or MemoryTransport()
        self.rt: Runtime = build_runtime(self.settings, transport=self.transport)

    def statements(self, *names: str) -> None:
        """Import example statements by file name."""
        with self.rt.db.session() as session:
            for name in names:
                save(session, parse_file(EXAMPLES / "statements" / name))

    def people(self, csv_text: str) -> None:
        """Import subscribers (consent held)."""
        path = self.tmp_path / "people.csv"
        path.write_text(csv_text, encoding="utf-8")
        import_csv(self.rt.db, path, consented=True)

    @contextmanager
    def worker(self) -> Iterator[None]:
        """A real Celery worker (memory:// broker) in this process while the block runs."""
        from workers.app import configure, set_runtime
        from workers.embedded import embedded_worker

        app = configure(self.settings)
        set_runtime(self.rt)
        try:
            with embedded_worker(app):
                yield
        finally:
            set_runtime(None)

    def _run(self, queue: Any, campaign_id: int, timeout: float = 60) -> dict[str, Any]:
        from workers.app import configure, set_runtime
        from workers.embedded import embedded_worker

        app = configure(self.settings)
        set_runtime(self.rt)
        try:
            with embedded_worker(app):
                queue()
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    with self.rt.db.session() as session:
                        status = campaign_status(session, campaign_id)
                    if status["pending"] == status["held"] and status["state"] in (
                        "done",
                        "running",
                    ):
                        time.sleep(0.2)  # let a last batch finish recording
                        with self.rt.db.session() as session:
                            return campaign_status(session, campaign_id)
                    time.sleep(0.05)
        finally:
            set_runtime(None)
        raise AssertionError(f"campaign {campaign_id} did not finish: {status}")

    def send(
        self,
        statement_id: str,
        *,
        missing: str = "fallback",
        segment: str | None = None,
        again: bool = False,
    ) -> dict[str, Any]:
        """Create and run a campaign (`again`: to who already received the group too);
        returns its final status."""
        from workers.tasks import start_campaign

        with self.rt.db.session() as session:
            campaign = create_campaign(
                session,
                org=self.rt.org,
                statement_id=statement_id,
                segment=segment,
                missing=missing,
                again=again,
            )
        return self._run(lambda: start_campaign.delay(campaign.id), campaign.id)

    def resume(self, campaign_id: int) -> dict[str, Any]:
        """Queue what is pending (and what a translation or the clock released)."""
        from workers.tasks import start_campaign

        return self._run(lambda: start_campaign.delay(campaign_id), campaign_id)

    def messages(self) -> list[EmailMessage]:
        """Everything sent so far, parsed."""
        out = []
        for sent in getattr(self.transport, "outbox", []):
            message = message_from_bytes(sent.message, policy=policy.default)
            assert isinstance(message, EmailMessage)
            out.append(message)
        return out
