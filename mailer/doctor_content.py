"""`mailer doctor`'s checks of what the organisation wrote: the profile, the catalogs, the statements.

Each is one function that reads and never writes: the database is opened read-only (and a
missing SQLite file is reported, never created).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from mailer.config import Settings
from mailer.errors import ConfigError
from mailer.org import OrgProfile, load_profile

__all__ = [
    "Verdict",
    "catalogs_verdict",
    "profile_verdict",
    "read_only_engine",
    "statements_verdict",
]

_SHOWN_IDS = 3  # statement ids named per language


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check found: ok, or not, or a warning (ok for the exit code, said all the same)."""

    ok: bool
    detail: str
    warning: bool = False


def profile_verdict(settings: Settings) -> tuple[Verdict, OrgProfile | None]:
    """The profile read as every command reads it; the error it stops them with."""
    try:
        org = load_profile(settings.org_file)
    except ConfigError as exc:
        return Verdict(False, str(exc)), None
    if settings.org_file is None:
        return (
            Verdict(
                True,
                "no mailer.toml (MAILER_ORG_FILE unset): the built-in example organisation's "
                "name, address and senders are in every email",
                warning=True,
            ),
            org,
        )
    return (
        Verdict(True, f"{settings.org_file}: {org.name}, locales {', '.join(org.locales)}"),
        org,
    )


def catalogs_verdict(org: OrgProfile) -> Verdict:
    """Every locale of the profile has a complete catalog (without one it cannot be sent)."""
    from babel.messages.pofile import read_po

    from mailer.i18n import available_catalogs
    from mailer.paths import LOCALE_DIR

    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    known = set(available_catalogs())
    problems = []
    for locale in org.locales:
        code = locale if locale in known else locale.split("_")[0]
        if code not in known:
            problems.append(
                f"{locale}: no catalog, so no email can be rendered in it (add "
                f"templates/locale/{code}/LC_MESSAGES/messages.po)"
            )
            continue
        with (LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        missing = [m for m in wanted if not getattr(catalog.get(m), "string", None)]
        if missing:
            problems.append(f"{code}: {len(missing)} untranslated string(s)")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, f"complete for {', '.join(org.locales)}")


def read_only_engine(url: str) -> Engine | str:
    """An engine that cannot write, or why there is none. A SQLite file that does not exist is
    not created; an existing one is opened read-only, and, when no other process has it open
    (no `-wal` file), as immutable, so that not even the `-wal` and `-shm` files appear."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        return f"not a database URL: {exc}"
    if parsed.get_backend_name() != "sqlite":
        from mailer.store.db import open_database

        return open_database(url, migrate=False).engine
    name = parsed.database or ""
    if name in ("", ":memory:"):
        return "an in-memory SQLite database holds nothing to check"
    path = Path(name).resolve()
    if not path.is_file():
        return f"{name} does not exist: `mailer init` creates it"
    in_use = Path(f"{path}-wal").exists()
    uri = f"{path.as_uri()}?{'mode=ro' if in_use else 'immutable=1'}"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))


def statements_verdict(engine: Engine, org: OrgProfile) -> Verdict:
    """Stored statements in a language that cannot be sent (not in the profile, or no catalog):
    a warning, since nothing is broken; their readers get their fallback's version."""
    from mailer.campaigns.languages import language_problem
    from mailer.i18n import available_catalogs
    from mailer.store.models import StatementRow

    catalogs = available_catalogs()
    by_lang: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for lang, ident in connection.execute(
            select(StatementRow.lang, StatementRow.id).order_by(StatementRow.lang, StatementRow.id)
        ):
            by_lang.setdefault(str(lang), []).append(str(ident))
    unsendable = []
    for lang, ids in by_lang.items():
        problem = language_problem(lang, org, catalogs)
        if problem is not None:
            named = ", ".join(ids[:_SHOWN_IDS]) + (
                f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else ""
            )
            unsendable.append(f"{len(ids)} in {problem} ({named})")
    total = sum(len(ids) for ids in by_lang.values())
    if unsendable:
        return Verdict(
            True,
            "not sent in their language (readers get their fallback's version): "
            + "; ".join(unsendable),
            warning=True,
        )
    return Verdict(True, f"{total} stored, each in a language of the profile with a catalog")
