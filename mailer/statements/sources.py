"""Statements that arrive by themselves: RSS/Atom feed entries and files dropped in a directory.

Both readers return what they could read and one line per problem; neither raises for a
bad file, entry or feed, so one broken item never holds back the others (nor the tick).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import Any

from mailer.errors import StatementError
from mailer.locales import normalise_locale
from mailer.org import Source
from mailer.statements.fetch import fetch
from mailer.statements.model import Statement
from mailer.statements.parse import FORMATS, parse_file, parse_text
from mailer.urls import url_problem

__all__ = ["MAX_ENTRIES", "read_directory", "read_feed"]

log = logging.getLogger("mailer.sources")

MAX_ENTRIES = 200  # entries read from one feed, newest first as feeds list them
# Control characters a third-party feed may carry; they are dropped, not refused.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def read_feed(source: Source, *, timeout: float = 30.0) -> tuple[list[Statement], list[str]]:
    """Every entry of the feed as a statement; its id comes from the entry's guid (or its
    content), so reading the feed again yields the same ids: nothing is announced twice."""
    import feedparser

    url = str(source.url)
    try:
        fetched = fetch(url, timeout=timeout)
    except StatementError as exc:
        return [], [_clean(str(exc))]
    # A stream, never bytes: feedparser opens bytes that name a file as that file.
    feed = feedparser.parse(
        io.BytesIO(fetched.body),
        response_headers={"content-type": fetched.content_type, "content-location": fetched.url},
    )
    if feed.get("bozo") and not feed.entries:
        return [], [_clean(f"{url}: not a readable feed: {feed.get('bozo_exception')}")]
    declared = source.lang or feed.feed.get("language")
    language = normalise_locale(declared) if isinstance(declared, str) else None
    statements: list[Statement] = []
    problems: list[str] = []
    for entry in feed.entries[:MAX_ENTRIES]:
        try:
            statements.append(_entry(entry, source=source, language=language))
        except StatementError as exc:
            problems.append(_clean(f"feed entry skipped: {exc}"))
    return statements, problems


def _clean(problem: str) -> str:
    # Problems quote what a feed server or a file name said: one printable log line.
    return _CONTROL.sub("?", problem.replace("\n", " "))[:500]


def _entry(entry: Any, *, source: Source, language: str | None) -> Statement:
    body = ""
    if entry.get("content"):
        body = entry.content[0].get("value", "")
    body = _CONTROL.sub("", str(body or entry.get("summary", "")))
    title = _CONTROL.sub("", str(entry.get("title", ""))).strip()
    guid = str(
        entry.get("id") or entry.get("link") or hashlib.sha256((title + body).encode()).hexdigest()
    )
    ident = "feed-" + hashlib.sha256(guid.encode()).hexdigest()[:16]
    where = f"{source.url} entry {guid[:80]!r}"
    link = entry.get("link") or None
    problem = url_problem(link) if link is not None else None
    if problem is not None:
        raise StatementError(problem, file=where, field="link")
    lang_attribute = f' lang="{escape(language)}"' if language else ""
    content = body if "<" in body else f"<p>{escape(body, quote=False)}</p>"
    page = (
        f"<html{lang_attribute}><body><h1>{escape(title, quote=False)}</h1>{content}</body></html>"
    )
    parsed = parse_text(page, fmt="html", source=where, translation_key=ident)
    lang = language.split("_")[0] if language else parsed.lang
    return replace(
        parsed,
        id=f"{ident}-{lang}",
        lang=lang,
        url=str(link).strip() if link else None,
        urgency=source.urgency,
        source=source.name,
    )


def read_directory(source: Source) -> tuple[list[Statement], list[str]]:
    """Statement files in a watched directory (and one line for each that fails)."""
    folder = Path(str(source.directory))
    statements: list[Statement] = []
    problems: list[str] = []
    if not folder.is_dir():
        return [], [f"{folder}: not a directory"]
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in FORMATS or path.name.startswith("."):
            continue
        try:
            statement = parse_file(path)
        except StatementError as exc:
            problems.append(_clean(str(exc)))
            continue
        except Exception as exc:  # a parser's own bug must not stop the other files
            problems.append(_clean(f"{path}: unreadable ({type(exc).__name__}: {exc})"))
            continue
        statements.append(replace(statement, source=source.name))
    return statements, problems
