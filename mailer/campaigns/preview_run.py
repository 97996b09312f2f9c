"""Look before sending: who would get what (a dry run), and every variant to one test address."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from mailer.campaigns.personal import campaign_outgoing, deliver
from mailer.campaigns.plan import audience
from mailer.campaigns.run import template_for
from mailer.errors import PermanentFailure, TemporaryFailure
from mailer.ledger import CampaignState
from mailer.runtime import Runtime
from mailer.statements.repository import load
from mailer.store.models import Campaign, Subscriber, utcnow
from mailer.transport.classify import Outcome, judge

__all__ = ["DryRun", "dry_run", "send_test"]

_SAMPLE = 3


@dataclass
class DryRun:
    """Counts per (locale, version), skip reasons, and a few recipients per locale."""

    sending: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    held: int = 0
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def as_json(self) -> dict[str, Any]:
        """The dry run as `--json` prints it."""
        return {
            "would_send": sum(self.sending.values()),
            "by_locale": [
                {
                    "locale": locale,
                    "version": version,
                    "count": count,
                    "sample": self.samples.get(locale, []),
                }
                for (locale, version), count in sorted(self.sending.items())
            ],
            "held": self.held,
            "skipped": dict(sorted(self.skipped.items())),
        }


def _transient(
    rt: Runtime, statement_id: str, segment: str | None, missing: str | None, again: bool
) -> Campaign:
    with rt.db.session() as session:
        statement = load(session, statement_id)
    return Campaign(
        id=0,
        kind="manual",
        statement_id=statement.id,
        translation_key=statement.translation_key,
        segment=segment,
        missing=missing or rt.org.missing,
        again=again,
        state=CampaignState.PLANNING,
        items=[],
        created_at=utcnow(),
    )


def dry_run(
    rt: Runtime,
    statement_id: str,
    *,
    segment: str | None = None,
    missing: str | None = None,
    again: bool = False,
    now: dt.datetime | None = None,
) -> DryRun:
    """What `mailer send` would do now, writing nothing."""
    campaign = _transient(rt, statement_id, segment, missing, again)
    result = DryRun()
    with rt.db.session() as session:
        for page in audience(session, campaign, rt.org, now=now or utcnow()):
            wanted = [
                sub_id for sub_id, d in page if d.send and len(result.samples[d.locale]) < _SAMPLE
            ]
            emails = (
                dict(
                    session.execute(
                        select(Subscriber.id, Subscriber.email).where(Subscriber.id.in_(wanted))
                    ).all()
                )
                if wanted
                else {}
            )
            for sub_id, decision in page:
                if decision.send:
                    result.sending[(decision.locale, decision.statement_id or "")] += 1
                    if sub_id in emails and len(result.samples[decision.locale]) < _SAMPLE:
                        result.samples[decision.locale].append(emails[sub_id])
                elif decision.hold:
                    result.held += 1
                else:
                    result.skipped[decision.reason or "skipped"] += 1
    return result


def send_test(
    rt: Runtime, statement_id: str, address: str, *, segment: str | None = None
) -> list[str]:
    """Send every variant the campaign would use (each statement version in each locale) to one
    address, outside any campaign; returns the variants sent as 'locale/version'."""
    plan = dry_run(rt, statement_id, segment=segment)
    variants = sorted(plan.sending)
    if not variants:
        with rt.db.session() as session:
            statement = load(session, statement_id)
        variants = [(statement.lang, statement.id)]
    messages = []
    for key, (locale, version) in enumerate(variants):
        template = template_for(rt, 0, version, locale)
        messages.append(
            campaign_outgoing(
                rt, template, key=key, campaign_id=0, subscriber_id=0, email=address, name=""
            )
        )
    replies = deliver(rt, messages)
    sent = []
    for key, (locale, version) in enumerate(variants):
        reply = replies[key]
        verdict = judge(reply)
        if verdict.outcome is not Outcome.SENT:
            failure = PermanentFailure if verdict.outcome is Outcome.PERMANENT else TemporaryFailure
            raise failure(
                f"{locale}/{version} to {address} not sent: {verdict.reason}: {reply}",
                code=reply.code,
                recipient=address,
            )
        sent.append(f"{locale}/{version}")
    return sent
