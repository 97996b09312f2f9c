"""`mailer doctor`: check every moving part and say, one line each, what is wrong.

It is the containers' health check, so its lines land in health logs: every line has its
credentials masked (`Check` masks its own detail, whatever check makes it). A new check is
one more function `Settings -> Check` in `run_checks`'s list, with the variables it depends
on in `_DEPENDS`: a check whose variable was refused says "skip" instead of checking a
default in its place (the outbox, the database file) and calling that ok.

Doctor changes nothing: no database file, no key file, no outbox is created; SQLite is
opened read-only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from mailer.config import FIELDS, PREFIX, Settings, load_settings, read_field
from mailer.doctor_content import (
    catalogs_verdict,
    profile_verdict,
    read_only_engine,
    statements_verdict,
)
from mailer.doctor_services import (
    Check,
    bounce_mailbox,
    broker,
    database,
    dkim,
    files,
    skip,
    transport,
    warn,
)
from mailer.errors import ConfigError
from mailer.secret import MIN_SECRET_LENGTH, RECOMMENDED_SECRET_LENGTH, key_file_problem

__all__ = ["Check", "run_checks"]


# Stands for a refused key so that the other parts are still checked; never signs anything.
_STAND_IN_KEY = "doctor-stand-in-for-a-refused-key-0123456789"


def _variables(environ: Mapping[str, str]) -> Iterator[Check]:
    # Each variable alone, so that every wrong one is named, not only the first.
    bad = False
    for key, value in sorted(environ.items()):
        if not key.startswith(PREFIX):
            continue
        field = key[len(PREFIX) :].lower()
        if field not in FIELDS:
            bad = True
            yield Check("configuration", False, f"{key} is not a mailer setting (a typo?)")
            continue
        try:
            read_field(field, value)
        except ValueError as exc:
            bad = True
            yield Check("configuration", False, f"{key}: {exc}")
    if not bad:
        yield Check("configuration", True, "every MAILER_ variable is valid")


def _profile(settings: Settings) -> Check:
    verdict, _ = profile_verdict(settings)
    return Check("profile", verdict.ok, verdict.detail, "warn" if verdict.warning else "")


def _catalogs(settings: Settings) -> Check:
    _, org = profile_verdict(settings)
    if org is None:
        return skip("catalogs", "not checked: the profile is wrong (above)")
    verdict = catalogs_verdict(org)
    return Check("catalogs", verdict.ok, verdict.detail)


def _statements(settings: Settings) -> Check:
    _, org = profile_verdict(settings)
    if org is None:
        return skip("statements", "not checked: the profile is wrong (above)")
    try:
        engine = read_only_engine(settings.database_url)
        if isinstance(engine, str):
            return skip("statements", "not checked: no database (above)")
        from sqlalchemy import inspect

        if not inspect(engine).has_table("statements"):
            return skip("statements", "not checked: the schema is not there (above)")
        verdict = statements_verdict(engine, org)
        engine.dispose()
    except Exception as exc:  # an unreachable database is the database check's line
        return skip("statements", f"not checked: {str(exc).splitlines()[0][:200]}")
    if verdict.warning:
        return warn("statements", verdict.detail)
    return Check("statements", verdict.ok, verdict.detail)


def _secret_key(
    settings: Settings, environ: Mapping[str, str], *, not_made: Path | None = None
) -> Check:
    if not_made is not None:
        return warn(
            "secret key",
            f"none yet: `mailer init` (or any first command) generates {not_made}",
        )
    if settings.secret_key == _STAND_IN_KEY:
        return Check("secret key", False, "refused (see above): links cannot be signed")
    if environ.get(f"{PREFIX}SECRET_KEY"):
        length = len(settings.secret_key)
        advice = (
            f" (weak: make a random one of {RECOMMENDED_SECRET_LENGTH} or more, "
            "`openssl rand -base64 32`)"
            if length < RECOMMENDED_SECRET_LENGTH
            else ""
        )
        return Check("secret key", True, f"MAILER_SECRET_KEY, {length} characters{advice}")
    path = settings.data_dir / "secret_key"
    problem = key_file_problem(path) if path.exists() else None
    if problem is not None:
        return Check("secret key", False, problem)
    return Check(
        "secret key",
        True,
        f"generated in {path} ({MIN_SECRET_LENGTH}+ characters, readable by its owner only)",
    )


def _key_file_to_be_made(env: dict[str, str]) -> Path | None:
    """The key file the embedded default would generate now (loading the settings makes it):
    doctor leaves it to `mailer init` and checks the rest with a stand-in."""
    if env.get(f"{PREFIX}SECRET_KEY") is not None:
        return None
    database = env.get(f"{PREFIX}DATABASE_URL", "sqlite:///mailer.db")
    broker = env.get(f"{PREFIX}BROKER_URL", "memory://")
    path = Path(env.get(f"{PREFIX}DATA_DIR", ".mailer")) / "secret_key"
    if database.startswith("sqlite") and broker.startswith("memory:") and not path.exists():
        return path
    return None


# The variables each check stands on: when one was refused, the check is skipped rather than
# run on the default in its place ("ok transport: maildir outbox" after a wrong URL).
_DEPENDS: dict[str, tuple[str, ...]] = {
    "database": ("DATABASE_URL",),
    "broker": ("BROKER_URL",),
    "transport": ("TRANSPORT_URL",),
    "files": ("DATABASE_URL", "TRANSPORT_URL"),
    "dkim": ("DKIM_SELECTOR", "DKIM_DOMAIN", "DKIM_KEY_FILE"),
    "profile": ("ORG_FILE",),
    "catalogs": ("ORG_FILE",),
    "statements": ("ORG_FILE", "DATABASE_URL"),
    "bounce mailbox": ("BOUNCE_MAILBOX",),
}


def _dotenv() -> dict[str, str]:
    """The `.env` file of the working directory, as the settings read it."""
    path = Path(".env")
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def run_checks(environ: Mapping[str, str] | None = None) -> list[Check]:
    """Every check. A wrong variable is reported once, then left out (its default used, or a
    stand-in for a refused secret key) so that the other parts are still checked."""
    env = dict(os.environ if environ is None else environ)
    if environ is None:
        env = {**_dotenv(), **env}
    checks = list(_variables(env))
    reported = {
        name
        for name in env
        if name.startswith(PREFIX)
        and any(
            c.detail.startswith(name + ":") or c.detail.startswith(name + " ")
            for c in checks
            if not c.ok
        )
    }
    for name in reported:
        env.pop(name)
    if f"{PREFIX}SECRET_KEY" in reported:
        env[f"{PREFIX}SECRET_KEY"] = _STAND_IN_KEY
    not_made = _key_file_to_be_made(env)
    if not_made is not None:
        env[f"{PREFIX}SECRET_KEY"] = _STAND_IN_KEY
    settings = None
    for _attempt in range(10):
        try:
            settings = load_settings(env)
            break
        except ConfigError as exc:
            if exc.variable not in reported:
                checks.append(Check("configuration", False, str(exc)))
                reported.add(exc.variable)
            group = f"{PREFIX}DKIM_" if exc.variable.startswith(f"{PREFIX}DKIM_") else exc.variable
            for name in [n for n in env if n.startswith(group)] if group.endswith("_") else [group]:
                env.pop(name, None)
            if exc.variable == f"{PREFIX}SECRET_KEY":
                env[exc.variable] = _STAND_IN_KEY
    if any(c.name == "configuration" and not c.ok for c in checks):
        # Not "every variable is valid" next to a variable that is not.
        checks = [c for c in checks if not (c.name == "configuration" and c.ok)]
    if settings is None:
        return checks

    def secret_key(current: Settings) -> Check:
        return _secret_key(current, env, not_made=not_made)

    def dkim_key(current: Settings) -> Check:
        return dkim(current, profile_refused=f"{PREFIX}ORG_FILE" in reported)

    steps: list[tuple[str, Callable[[Settings], Check]]] = [
        ("secret key", secret_key),
        ("profile", _profile),
        ("database", database),
        ("broker", broker),
        ("transport", transport),
        ("files", files),
        ("dkim", dkim_key),
        ("catalogs", _catalogs),
        ("statements", _statements),
        ("bounce mailbox", bounce_mailbox),
    ]
    for name, step in steps:
        refused = [
            f"{PREFIX}{variable}"
            for variable in _DEPENDS.get(name, ())
            if f"{PREFIX}{variable}" in reported
        ]
        if refused:
            checks.append(skip(name, f"not checked: {', '.join(refused)} is wrong (above)"))
            continue
        try:
            checks.append(step(settings))
        except Exception as exc:
            checks.append(Check(name, False, f"check crashed: {exc}"))
    return checks
