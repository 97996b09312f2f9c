"""Everything a process needs to do mailer's work, built once from the settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mailer.config import Settings
from mailer.dkim_sign import Signer as DkimSigner
from mailer.installation import installation_id
from mailer.org import OrgProfile, load_profile
from mailer.store.db import Database, open_database
from mailer.tokens import TokenSigner
from mailer.transport.base import Transport
from mailer.transport.factory import open_transport
from mailer.transport.ratelimit import NoLimit, RateLimiter, open_limiter

__all__ = ["Runtime", "build_runtime"]

log = logging.getLogger("mailer")


@dataclass
class Runtime:
    """Settings, organisation profile, database, transport and signer of one process."""

    settings: Settings
    org: OrgProfile
    db: Database
    transport: Transport
    signer: TokenSigner
    limiter: RateLimiter = field(default_factory=NoLimit)
    dkim: DkimSigner | None = None
    # Message templates per (campaign, statement version, locale): rendered and
    # inlined once per process, reused for every recipient of every batch.
    templates: dict[tuple[int, str, str], Any] = field(default_factory=dict)

    def close(self) -> None:
        """Release the transport's connection and the database pool."""
        self.transport.close()
        self.db.dispose()


def build_runtime(
    settings: Settings, *, migrate: bool = True, transport: Transport | None = None
) -> Runtime:
    """Open the database and the transport named by the settings."""
    org = load_profile(settings.org_file)
    db = open_database(settings.database_url, migrate=migrate)
    return Runtime(
        settings=settings,
        org=org,
        db=db,
        transport=transport
        or open_transport(settings.transport_url, connections=settings.smtp_connections),
        signer=TokenSigner(settings.secret_key, installation=installation_id(db)),
        limiter=open_limiter(
            broker_url=settings.broker_url,
            rate=settings.rate_limit,
            domain_rate=settings.domain_rate_limit,
        ),
        dkim=DkimSigner.from_file(*settings.dkim) if settings.dkim else None,
    )
