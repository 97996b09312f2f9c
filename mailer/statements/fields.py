"""A statement's front-matter fields, each checked for type, length and count: one line per mistake."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from mailer.errors import StatementError
from mailer.flags import parse_flag
from mailer.statements.model import CallToAction
from mailer.urls import url_problem

__all__ = [
    "LIMITS",
    "actions",
    "countries",
    "date",
    "flag",
    "identifier",
    "optional_text",
    "url",
    "words",
]

# What one statement may hold; the README's Files section lists the same figures.
LIMITS = {
    "id": 120,
    "translation_key": 120,
    "title": 300,
    "lead": 2000,
    "topics": 20,  # items
    "topic": 100,  # characters each
    "countries": 30,
    "cta": 10,
    "cta_label": 100,
    "cta_kind": 40,
}
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def optional_text(meta: dict[str, Any], key: str, source: str, *, limit: int) -> str | None:
    """A text field, trimmed, or None when absent or empty."""
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise StatementError("must be text (put it in quotes)", file=source, field=key)
    text = " ".join(str(value).split())
    if len(text) > limit:
        raise StatementError(f"longer than {limit} characters", file=source, field=key)
    return text or None


def identifier(meta: dict[str, Any], key: str, source: str) -> str | None:
    """An id or key: letters, digits, dots, dashes and underscores (it ends up in links)."""
    value = optional_text(meta, key, source, limit=LIMITS[key])
    if value is not None and not _IDENT.match(value):
        raise StatementError(
            f"only letters, digits, '.', '-' and '_' are allowed, not {value[:40]!r}",
            file=source,
            field=key,
        )
    return value


def words(
    meta: dict[str, Any], key: str, source: str, *, count: int, length: int = 100
) -> list[str]:
    """A list of short texts (or one `;`/`,`-separated text)."""
    value = meta.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r"[;,]", value)
    if not isinstance(value, list) or not all(
        isinstance(v, (str, int)) and not isinstance(v, bool) for v in value
    ):
        raise StatementError("must be a list of words", file=source, field=key)
    items = [" ".join(str(v).split()) for v in value]
    items = [item for item in items if item]
    if len(items) > count:
        raise StatementError(f"more than {count} items", file=source, field=key)
    for item in items:
        if len(item) > length:
            raise StatementError(
                f"{item[:30]!r}... is longer than {length} characters", file=source, field=key
            )
    return items


def countries(meta: dict[str, Any], source: str) -> list[str]:
    """ISO 3166 alpha-2 codes, upper-cased."""
    codes = [c.upper() for c in words(meta, "countries", source, count=LIMITS["countries"])]
    for code in codes:
        if not re.fullmatch(r"[A-Z]{2}", code):
            raise StatementError(
                f"not an ISO 3166 alpha-2 country code: {code[:20]!r}",
                file=source,
                field="countries",
            )
    return codes


def flag(meta: dict[str, Any], key: str, source: str) -> bool:
    """A yes-or-no field, read strictly (`urgent: "false"` is false)."""
    value = meta.get(key)
    if value is None:
        return False
    try:
        return parse_flag(value)
    except ValueError as exc:
        raise StatementError(str(exc), file=source, field=key) from exc


def url(meta: dict[str, Any], key: str, source: str) -> str | None:
    """A URL an email may link to (https, http or mailto), or None when absent."""
    value = meta.get(key)
    if value is None or value == "":
        return None
    problem = url_problem(value)
    if problem is not None:
        raise StatementError(problem, file=source, field=key)
    return str(value).strip()


def date(meta: dict[str, Any], source: str) -> dt.date | None:
    """The publication date, from YYYY-MM-DD (a time after it is ignored)."""
    value = meta.get("date")
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError as exc:
        raise StatementError(
            f"not an ISO date (YYYY-MM-DD): {str(value)[:40]!r}", file=source, field="date"
        ) from exc


def actions(meta: dict[str, Any], source: str) -> list[CallToAction]:
    """The calls to action: a list of {kind, label, url}."""
    value = meta.get("cta") or []
    if not isinstance(value, list):
        raise StatementError("must be a list of {kind, label, url}", file=source, field="cta")
    if len(value) > LIMITS["cta"]:
        raise StatementError(f"more than {LIMITS['cta']} items", file=source, field="cta")
    found = []
    for index, item in enumerate(value):
        where = f"cta[{index}]"
        if not isinstance(item, dict):
            raise StatementError("must be a mapping {kind, label, url}", file=source, field=where)
        problem = url_problem(item.get("url"))
        if problem is not None:
            raise StatementError(f"url: {problem}", file=source, field=where)
        kind = optional_text(item, "kind", source, limit=LIMITS["cta_kind"]) or "link"
        if not _KIND.match(kind.lower()):
            raise StatementError(
                f"kind: a word like petition or donate, not {kind[:40]!r}",
                file=source,
                field=where,
            )
        try:
            label = optional_text(item, "label", source, limit=LIMITS["cta_label"])
        except StatementError as exc:
            raise StatementError(f"label: {exc.problem}", file=source, field=where) from exc
        found.append(CallToAction(kind=kind.lower(), url=str(item["url"]).strip(), label=label))
    return found
