"""Statements that arrive by themselves: RSS/Atom feed entries and files dropped in a directory."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path

from mailer.errors import StatementError
from mailer.org import Source
from mailer.statements.model import Statement
from mailer.statements.parse import FORMATS, parse_file, parse_text

__all__ = ["read_directory", "read_feed"]

log = logging.getLogger("mailer.sources")


def read_feed(source: Source, *, timeout: float = 20.0) -> list[Statement]:
    """Every entry of the feed as a statement; its id comes from the entry's guid (or its
    content), so reading the feed again yields the same ids: nothing is announced twice."""
    import socket

    import feedparser

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        feed = feedparser.parse(source.url)
    finally:
        socket.setdefaulttimeout(previous)
    if feed.get("bozo") and not feed.entries:
        log.warning("feed %s unreadable: %s", source.url, feed.get("bozo_exception"))
        return []
    language = source.lang or feed.feed.get("language")
    statements = []
    for entry in feed.entries:
        body = ""
        if entry.get("content"):
            body = entry.content[0].get("value", "")
        body = body or entry.get("summary", "")
        title = entry.get("title", "").strip()
        guid = (
            entry.get("id")
            or entry.get("link")
            or hashlib.sha256((title + body).encode()).hexdigest()
        )
        ident = "feed-" + hashlib.sha256(guid.encode()).hexdigest()[:16]
        lang_line = f'<html lang="{language}">' if language else "<html>"
        page = f"{lang_line}<body><h1>{_escape(title)}</h1>{body if '<' in body else '<p>' + _escape(body) + '</p>'}</body></html>"
        try:
            parsed = parse_text(page, fmt="html", source=str(source.url), translation_key=ident)
        except StatementError as exc:
            log.warning("feed entry skipped: %s", exc)
            continue
        lang = language.split("-")[0].lower() if language else parsed.lang
        statements.append(
            replace(
                parsed,
                id=f"{ident}-{lang}",
                lang=lang,
                url=entry.get("link"),
                urgency=source.urgency,
                source=source.name,
            )
        )
    return statements


def _escape(text: str) -> str:
    from html import escape

    return escape(text, quote=False)


def read_directory(source: Source) -> tuple[list[Statement], list[str]]:
    """Statement files in a watched directory (and the problems of the ones that fail)."""
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
            problems.append(str(exc))
            continue
        statements.append(replace(statement, source=source.name))
    return statements, problems
