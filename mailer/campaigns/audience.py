"""Who gets an announcement and in which version: pure decisions, recorded on the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailer.org import OrgProfile, chain_for
from mailer.statements.model import Statement

__all__ = ["Decision", "choose_version", "decide", "email_locale", "group_topics"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Send this version in this locale, or skip for a reason."""

    send: bool
    locale: str
    statement_id: str | None
    version_lang: str | None
    reason: str | None = None


def group_topics(versions: Sequence[Statement]) -> frozenset[str]:
    """Every topic of every translation, case-folded."""
    return frozenset(t.casefold() for v in versions for t in v.topics)


def choose_version(locale: str | None, versions: Sequence[Statement], org: OrgProfile) -> Statement:
    """The first version along the subscriber's chain; else the default locale's; else the first.

    `versions` must be sorted (by language) so the last resort is deterministic.
    """
    by_lang = {v.lang: v for v in versions}
    for code in chain_for(org, locale):
        if code in by_lang:
            return by_lang[code]
        language = code.split("_")[0]
        for lang, version in by_lang.items():
            if lang.split("_")[0] == language:
                return version
    return versions[0]


def email_locale(subscriber_locale: str | None, version: Statement) -> str:
    """The locale the email is written in: the subscriber's own when it is the version's language
    (so fr_BE keeps Belgian dates and wording), else the version's."""
    if subscriber_locale and subscriber_locale.split("_")[0] == version.lang.split("_")[0]:
        return subscriber_locale
    return version.lang


def decide(
    *,
    status: str,
    alert_pref: str,
    topics: Sequence[str],
    locale: str | None,
    versions: Sequence[Statement],
    wanted_topics: frozenset[str],
    org: OrgProfile,
    targeted: bool = True,
) -> Decision:
    """Alert routing: subscribed, alerts on, and no topic chosen or one topic in common."""
    version = choose_version(locale, versions, org)
    email_lang = email_locale(locale, version)
    reason: str | None = None
    if status != "subscribed":
        reason = "pending confirmation" if status == "pending" else status
    elif targeted and alert_pref != "alerts":
        reason = "alerts off" if alert_pref == "digest" else "no email wanted"
    elif (
        targeted and topics and wanted_topics and not {t.casefold() for t in topics} & wanted_topics
    ):
        reason = "topic mismatch"
    if reason:
        return Decision(False, email_lang, version.id, version.lang, reason)
    return Decision(True, email_lang, version.id, version.lang)
