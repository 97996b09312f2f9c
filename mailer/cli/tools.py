"""`mailer init`, `tick`, `digest` and `doctor`."""

from __future__ import annotations

import typer

from mailer.cli.common import console, friendly, open_runtime
from mailer.redact import mask_url

__all__ = ["digest", "doctor", "init", "tick"]


@friendly
def init() -> None:
    """Create the database (or migrate it to the newest schema) and the secret key."""
    rt = open_runtime()
    console.print(f"database ready: {mask_url(rt.settings.database_url)}", markup=False)
    console.print(f"organisation: {rt.org.name} ({', '.join(rt.org.locales)})", markup=False)


@friendly
def tick() -> None:
    """Do now what the beat does each minute: due scheduled campaigns, held rows whose wait is
    over, the digest, the sources.

    Useful on the embedded default (no beat): run it from cron.
    """
    from mailer.campaigns.tick import tick_report
    from mailer.cli.publishing import run_campaign

    rt = open_runtime()
    done = tick_report(rt.db, rt.org)
    for line in done.lines:
        console.print(line, markup=False)
    if not done.lines:
        console.print("nothing due", markup=False)
    for campaign_id in done.campaigns:
        run_campaign(rt, campaign_id, wait=False)


@friendly
def digest() -> None:
    """Send the digest of what was published since the last one, now (nothing new: nothing sent)."""
    from mailer.campaigns.digest import create_digest
    from mailer.cli.publishing import run_campaign

    rt = open_runtime()
    campaign_id = create_digest(rt.db)
    if campaign_id is None:
        console.print("nothing new since the last digest: nothing sent", markup=False)
        return
    console.print(f"digest campaign {campaign_id}", markup=False)
    run_campaign(rt, campaign_id, wait=False)


def doctor() -> None:
    """Check configuration, profile, database, broker, SMTP, DKIM, catalogs and statements.

    One line each: ok, FAIL, warn (to know, not a failure) or skip (not checked, and why);
    exit 1 on any FAIL. Creates and changes nothing."""
    from mailer.doctor import run_checks

    checks = run_checks()
    for check in checks:
        console.print(f"{check.mark:<4} {check.name}: {check.detail}", markup=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
