"""Which versions of an announcement may be sent: those in a language the profile publishes in, with a catalog.

An email's words around the statement's text (greeting, date line, buttons, footer) come
from the catalog of the version's language. A version in a language the organisation does
not publish in, or has no catalog for, would go out in a mix of two languages ("Bonjour
Mateo" above Spanish text) or with buttons nobody configured: it is left out, and its
readers get the version their fallback chain leads to among the others. `check_group` is
pure (the caller passes the locales that have a catalog, `mailer.i18n.available_catalogs()`);
`sendable_group` reads a group from the store and keeps what may be sent.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailer.org import OrgProfile
from mailer.statements.model import Statement

__all__ = [
    "GroupLanguages",
    "VersionLanguage",
    "check_announcement",
    "check_group",
    "language_problem",
    "sendable_group",
]


def language_problem(lang: str, org: OrgProfile, catalogs: Collection[str]) -> str | None:
    """Why emails in `lang` cannot be sent under this profile, or None when they can."""
    language = lang.split("_")[0]
    published = {code.split("_")[0] for code in org.locales}
    in_profile = language in published
    has_catalog = lang in catalogs or language in catalogs
    if in_profile and has_catalog:
        return None
    missing = []
    if not in_profile:
        missing.append(f"not among the profile's locales ({', '.join(org.locales)})")
    if not has_catalog:
        missing.append(f"no catalog (templates/locale/{language}/LC_MESSAGES/messages.po)")
    return f"language {lang}: {' and '.join(missing)}"


@dataclass(frozen=True, slots=True)
class VersionLanguage:
    """One version of the group, and why its language cannot be sent (None: it can)."""

    statement_id: str
    lang: str
    problem: str | None


@dataclass(frozen=True, slots=True)
class GroupLanguages:
    """The verdict on every version of a translation group."""

    versions: tuple[VersionLanguage, ...]

    @property
    def refused(self) -> tuple[VersionLanguage, ...]:
        """The versions left out, with their reasons."""
        return tuple(v for v in self.versions if v.problem is not None)

    def sendable(self, statements: Sequence[Statement]) -> list[Statement]:
        """The given versions that may be sent (their order kept)."""
        allowed = {v.statement_id for v in self.versions if v.problem is None}
        return [s for s in statements if s.id in allowed]

    def refusal(self) -> str | None:
        """Why nothing of the group may be sent (no version can), or None when some can."""
        if not self.versions or len(self.refused) < len(self.versions):
            return None
        reasons = "; ".join(f"{v.statement_id}: {v.problem}" for v in self.refused)
        return (
            f"no version of this announcement is in a language the organisation publishes in "
            f"with a catalog ({reasons}): add the language to `locales` in mailer.toml and its "
            "catalog (README: Adding a language), or import a translation"
        )

    def warnings(self) -> list[str]:
        """One line per version left out while others are sent."""
        if self.refusal() is not None:
            return []
        return [
            f"version {v.statement_id} left out: {v.problem}; its readers get the version "
            "of their fallback chain"
            for v in self.refused
        ]


def check_group(
    versions: Sequence[Statement], org: OrgProfile, catalogs: Collection[str]
) -> GroupLanguages:
    """Check every version of a group against the profile's locales and the catalogs."""
    return GroupLanguages(
        tuple(
            VersionLanguage(v.id, v.lang, language_problem(v.lang, org, catalogs)) for v in versions
        )
    )


def sendable_group(session: Session, translation_key: str, org: OrgProfile) -> list[Statement]:
    """The versions of a group that may be sent (possibly none): every sending path reads the
    group through this, so a version in a language without a catalog never goes out."""
    from mailer.i18n import available_catalogs
    from mailer.statements.repository import group_of

    versions = group_of(session, translation_key)
    return check_group(versions, org, available_catalogs()).sendable(versions)


def check_announcement(session: Session, translation_key: str, org: OrgProfile) -> GroupLanguages:
    """`check_group` on a group read from the store (what `send`, `campaigns create` and
    `statements publish` check before they create anything)."""
    from mailer.i18n import available_catalogs
    from mailer.statements.repository import group_of

    return check_group(group_of(session, translation_key), org, available_catalogs())
