"""Parse a statement file (.md, .txt, .html) into a Statement, or fail with file, line and reason."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from mailer.errors import StatementError
from mailer.locales import normalise_locale
from mailer.statements.blocks import classify
from mailer.statements.language import detect_language
from mailer.statements.markdown import markdown_blocks, split_front_matter
from mailer.statements.model import URGENCIES, Block, CallToAction, Statement, slugify
from mailer.statements.plaintext import html_chunks, text_chunks

__all__ = ["FORMATS", "parse_file", "parse_text"]

FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
}
# `<key>.<lang>.<ext>` names a translation group and language without front matter.
_NAME_PATTERN = re.compile(r"^(?P<key>.+)\.(?P<lang>[a-z]{2,3}(?:[_-][A-Za-z]{2,4})?)$")


def parse_file(path: Path, *, translation_key: str | None = None) -> Statement:
    """Read and parse one statement file; StatementError names the file and the problem."""
    source = str(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise StatementError(
            f"unknown file type {path.suffix or '(none)'!r}: use .md, .txt or .html", file=source
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StatementError(f"cannot read: {exc.strerror}", file=source) from exc
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StatementError(f"not UTF-8 (byte {exc.start})", file=source) from exc
    return parse_text(content, fmt=fmt, source=source, translation_key=translation_key)


def parse_text(
    content: str, *, fmt: str, source: str, translation_key: str | None = None
) -> Statement:
    """Parse statement content of a known format ('markdown', 'text' or 'html')."""
    content = content.replace("\r\n", "\n").replace("\r", "\n")
    stem = Path(source).name.rsplit(".", 1)[0]
    named = _NAME_PATTERN.match(stem)
    meta: dict[str, Any] = {}
    topics: list[str] = []
    if fmt == "markdown":
        meta, body, _ = split_front_matter(content, source=source)
        title = _string(meta, "title", source)
        blocks = markdown_blocks(body)
    else:
        title, chunks = (text_chunks if fmt == "text" else html_chunks)(content, source=source)
        topics, blocks = classify(chunks)
    if not title:
        raise StatementError("no title", file=source, field="title")
    if not blocks:
        raise StatementError("empty body: no paragraph after the title", file=source)
    lang = _language(meta, named.group("lang") if named else None, title, blocks, source)
    key = translation_key or _optional(meta, "translation_key", source)
    if not key:
        key = named.group("key") if named else slugify(title)
    ident = _optional(meta, "id", source) or f"{slugify(key)}-{lang.lower()}"
    lead = _optional(meta, "lead", source) or next(
        (b.text for b in blocks if b.kind == "paragraph"), blocks[0].text
    )
    urgency = (_optional(meta, "urgency", source) or "alert").lower()
    if urgency not in URGENCIES:
        raise StatementError(
            f"must be one of {', '.join(URGENCIES)}, not {urgency!r}", file=source, field="urgency"
        )
    return Statement(
        id=ident,
        lang=lang,
        translation_key=slugify(key, limit=120),
        title=" ".join(title.split()),
        lead=" ".join(lead.split()),
        blocks=tuple(blocks),
        topics=tuple(_dedupe([*_list(meta, "topics", source), *topics])),
        countries=tuple(c.upper() for c in _list(meta, "countries", source)),
        urgency=urgency,
        urgent=bool(meta.get("urgent", False)),
        url=_optional(meta, "url", source),
        date=_date(meta, source),
        cta=tuple(_actions(meta, source)),
        source=source,
    )


def _language(
    meta: dict[str, Any], from_name: str | None, title: str, blocks: list[Block], source: str
) -> str:
    declared = _optional(meta, "lang", source) or from_name
    if declared:
        lang = normalise_locale(declared)
        if lang is None:
            raise StatementError(f"unknown language code {declared!r}", file=source, field="lang")
        return lang
    detected = detect_language(title + "\n" + "\n".join(b.text for b in blocks))
    if detected is None:
        raise StatementError(
            "language not declared and not detectable: add 'lang:'", file=source, field="lang"
        )
    return detected


def _string(meta: dict[str, Any], key: str, source: str) -> str:
    value = _optional(meta, key, source)
    if not value:
        raise StatementError("missing", file=source, field=key)
    return value


def _optional(meta: dict[str, Any], key: str, source: str) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise StatementError("must be text", file=source, field=key)
    text = str(value).strip()
    return text or None


def _list(meta: dict[str, Any], key: str, source: str) -> list[str]:
    value = meta.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [part for part in re.split(r"[;,]", value)]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise StatementError("must be a list of words", file=source, field=key)
    return [str(v).strip() for v in value if str(v).strip()]


def _date(meta: dict[str, Any], source: str) -> dt.date | None:
    value = meta.get("date")
    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError as exc:
        raise StatementError(
            f"not an ISO date (YYYY-MM-DD): {value!r}", file=source, field="date"
        ) from exc


def _actions(meta: dict[str, Any], source: str) -> list[CallToAction]:
    value = meta.get("cta") or []
    if not isinstance(value, list):
        raise StatementError("must be a list of {kind, label, url}", file=source, field="cta")
    actions = []
    for index, item in enumerate(value):
        where = f"cta[{index}]"
        if not isinstance(item, dict):
            raise StatementError("must be a mapping {kind, label, url}", file=source, field=where)
        url = str(item.get("url") or "").strip()
        if not re.match(r"^(https?://|mailto:)", url):
            raise StatementError(
                f"url must start with https://, http:// or mailto:, got {url!r}",
                file=source,
                field=where,
            )
        kind = str(item.get("kind") or "link").strip().lower()
        label = item.get("label")
        actions.append(
            CallToAction(kind=kind, url=url, label=str(label).strip() if label else None)
        )
    return actions


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            kept.append(item)
    return kept
