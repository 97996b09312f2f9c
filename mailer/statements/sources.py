"""Statements that arrive by themselves: RSS/Atom feed entries and files dropped in a directory.

Both readers return what they could read and one line per problem; neither raises for a
bad file, entry or feed, so one broken item never holds back the others (nor the tick).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path
from typing import Any

from mailer.errors import StatementError
from mailer.locales import normalise_locale
from mailer.org import Source
from mailer.statements.fetch import fetch
from mailer.statements.fields import LIMITS
from mailer.statements.model import Statement
from mailer.statements.parse import FORMATS, parse_file, parse_text
from mailer.urls import url_problem

__all__ = [
    "MAX_ENTRIES",
    "FeedEntry",
    "entry_date",
    "read_directory",
    "read_feed",
    "read_feed_entries",
    "topics_of",
]

log = logging.getLogger("mailer.sources")

MAX_ENTRIES = 200  # entries read from one feed, newest first as feeds list them
# Control characters a third-party feed may carry; they are dropped, not refused.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """A feed entry as a statement, and the id earlier versions of mailer gave it."""

    statement: Statement
    # From the guid alone, before ids named their source (a row of that id that this very
    # feed wrote keeps its id: nothing already announced is announced again).
    legacy_id: str


def read_feed(source: Source, *, timeout: float = 30.0) -> tuple[list[Statement], list[str]]:
    """Every entry of the feed as a statement (see read_feed_entries)."""
    entries, problems = read_feed_entries(source, timeout=timeout)
    return [entry.statement for entry in entries], problems


def read_feed_entries(
    source: Source, *, timeout: float = 30.0
) -> tuple[list[FeedEntry], list[str]]:
    """Every entry of the feed; its id comes from the feed's address and the entry's guid
    (or its content), so reading the feed again yields the same ids (nothing is announced
    twice) and another feed, whatever guids it makes up, can never name this one's entries."""
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
    entries: list[FeedEntry] = []
    problems: list[str] = []
    for entry in feed.entries[:MAX_ENTRIES]:
        try:
            entries.append(_entry(entry, source=source, language=language))
        except StatementError as exc:
            problems.append(_clean(f"feed entry skipped: {exc}"))
    return entries, problems


def _clean(problem: str) -> str:
    # Problems quote what a feed server or a file name said: one printable log line.
    return _CONTROL.sub("?", problem.replace("\n", " "))[:500]


def _entry(entry: Any, *, source: Source, language: str | None) -> FeedEntry:
    body = ""
    if entry.get("content"):
        body = entry.content[0].get("value", "")
    body = _CONTROL.sub("", str(body or entry.get("summary", "")))
    title = _CONTROL.sub("", str(entry.get("title", ""))).strip()
    guid = str(
        entry.get("id") or entry.get("link") or hashlib.sha256((title + body).encode()).hexdigest()
    )
    ident = "feed-" + hashlib.sha256(f"{source.url}\n{guid}".encode()).hexdigest()[:16]
    legacy = "feed-" + hashlib.sha256(guid.encode()).hexdigest()[:16]
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
    statement = replace(
        parsed,
        id=f"{ident}-{lang}",
        lang=lang,
        url=str(link).strip() if link else None,
        urgency=source.urgency,
        source=source.name,
        topics=topics_of([*_categories(entry), *parsed.topics, *source.topics]),
        countries=tuple(dict.fromkeys([*parsed.countries, *source.countries])),
        date=entry_date(entry),
    )
    return FeedEntry(statement, legacy_id=f"{legacy}-{lang}")


def _categories(entry: Any) -> list[str]:
    # RSS 2.0 <category>text</category> and Atom <category term="" label=""/> both land in
    # feedparser's `tags`; Atom's label is the human-readable form of its term (RFC 4287 4.2.2).
    found = []
    for tag in list(entry.get("tags") or [])[: 4 * LIMITS["topics"]]:
        if hasattr(tag, "get"):
            found.append(str(tag.get("label") or tag.get("term") or ""))
    return found


def topics_of(candidates: Iterable[str]) -> tuple[str, ...]:
    """Topics from text a third party wrote, cleaned like front-matter topics: control
    characters dropped, spaces collapsed, the same topic once whatever its case, at most
    20 of at most 100 characters (a longer one is left out, not cut into another word)."""
    seen: dict[str, str] = {}
    for candidate in candidates:
        topic = " ".join(_CONTROL.sub(" ", candidate).split())
        if topic and len(topic) <= LIMITS["topic"]:
            seen.setdefault(topic.casefold(), topic)
        if len(seen) == LIMITS["topics"]:
            break
    return tuple(seen.values())


def entry_date(entry: Any) -> dt.date | None:
    """The day the entry was published (else last updated), as its publisher wrote it: RSS
    `pubDate` (RFC 822) or Atom `published`/`updated` (RFC 3339), in the offset given, so a
    statement of 00:30 in Brussels is not dated the day before."""
    for key in ("published", "updated"):
        raw = entry.get(key)
        if isinstance(raw, str) and raw.strip():
            when = _when(raw.strip()[:100])
            if when is not None:
                return when
        parsed = entry.get(f"{key}_parsed")
        if parsed:  # a form feedparser read and we do not: its UTC reading
            try:
                return dt.date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
            except (AttributeError, TypeError, ValueError):
                continue
    return None


def _when(raw: str) -> dt.date | None:
    try:
        return email.utils.parsedate_to_datetime(raw).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        return None


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
        statements.append(
            replace(
                statement,
                source=source.name,
                topics=topics_of([*statement.topics, *source.topics]),
                countries=tuple(dict.fromkeys([*statement.countries, *source.countries])),
            )
        )
    return statements, problems
