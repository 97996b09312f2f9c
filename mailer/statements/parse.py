"""Parse a statement file (.md, .txt, .html) into a Statement, or fail with file, line and reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mailer.errors import StatementError
from mailer.locales import normalise_locale
from mailer.statements import fields
from mailer.statements.blocks import classify
from mailer.statements.frontmatter import split_front_matter
from mailer.statements.language import detect_language
from mailer.statements.markdown import markdown_blocks
from mailer.statements.model import URGENCIES, Block, Statement, slugify
from mailer.statements.plaintext import html_chunks, text_chunks

__all__ = [
    "FORMATS",
    "MAX_BLOCKS",
    "MAX_BODY",
    "MAX_FILE_BYTES",
    "MAX_MARKDOWN",
    "parse_file",
    "parse_text",
]

FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
}
# `<key>.<lang>.<ext>` names a translation group and language without front matter.
_NAME_PATTERN = re.compile(r"^(?P<key>.+)\.(?P<lang>[a-z]{2,3}(?:[_-][A-Za-z]{2,4})?)$")
MAX_FILE_BYTES = 2 * 1024 * 1024  # a press release copied with its page is well under 1 MB
MAX_BODY = 150_000  # characters of body text
# Characters of Markdown source: markdown-it is pure Python, and pathological input (200,000
# brackets) costs it seconds, so this is checked before parsing.
MAX_MARKDOWN = 200_000
MAX_BLOCKS = 1000
# Vertical tab and form feed: line breaks in text copied from word processors.
_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": "\n"})
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and line feed, DEL, C1


def parse_file(path: Path, *, translation_key: str | None = None) -> Statement:
    """Read and parse one statement file; StatementError names the file and the problem."""
    source = str(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise StatementError(
            f"unknown file type {path.suffix or '(none)'!r}: use .md, .txt or .html", file=source
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise StatementError(f"cannot read: {exc.strerror}", file=source) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise StatementError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB", file=source)
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise StatementError(f"not UTF-8 (byte {exc.start})", file=source, line=line) from exc
    return parse_text(content, fmt=fmt, source=source, translation_key=translation_key)


def parse_text(
    content: str, *, fmt: str, source: str, translation_key: str | None = None
) -> Statement:
    """Parse statement content of a known format ('markdown', 'text' or 'html')."""
    content = content.replace("\r\n", "\n").replace("\r", "\n").translate(_BREAKS)
    _refuse_control_characters(content, source)
    stem = Path(source).name.rsplit(".", 1)[0]
    named = _NAME_PATTERN.match(stem)
    meta: dict[str, Any] = {}
    topics: list[str] = []
    if fmt == "markdown":
        meta, body, first_line = split_front_matter(content, source=source)
        title = fields.optional_text(meta, "title", source, limit=fields.LIMITS["title"])
        if not title:
            raise StatementError("missing", file=source, field="title")
        if len(body) > MAX_MARKDOWN:
            raise StatementError(
                f"body: longer than {MAX_MARKDOWN:,} characters", file=source, line=first_line
            )
        blocks = markdown_blocks(body, source=source, first_line=first_line)
    else:
        title, chunks = (text_chunks if fmt == "text" else html_chunks)(content, source=source)
        topics, blocks = classify(chunks)
    title = " ".join(title.split())
    if not title:
        raise StatementError("no title", file=source, field="title")
    if len(title) > fields.LIMITS["title"]:
        raise StatementError(
            f"longer than {fields.LIMITS['title']} characters", file=source, field="title"
        )
    _check_body(blocks, source)
    lang = _language(meta, named.group("lang") if named else None, title, blocks, source)
    key = translation_key or fields.optional_text(
        meta, "translation_key", source, limit=fields.LIMITS["translation_key"]
    )
    if not key:
        key = named.group("key") if named else slugify(title)
    ident = fields.identifier(meta, "id", source) or f"{slugify(key)}-{lang.lower()}"
    lead = fields.optional_text(meta, "lead", source, limit=fields.LIMITS["lead"]) or _cut(
        next((b.text for b in blocks if b.kind == "paragraph"), blocks[0].text),
        fields.LIMITS["lead"],
    )
    urgency = (fields.optional_text(meta, "urgency", source, limit=20) or "alert").lower()
    if urgency not in URGENCIES:
        raise StatementError(
            f"must be one of {', '.join(URGENCIES)}, not {urgency!r}", file=source, field="urgency"
        )
    own_topics = fields.words(
        meta, "topics", source, count=fields.LIMITS["topics"], length=fields.LIMITS["topic"]
    )
    statement = Statement(
        id=ident,
        lang=lang,
        translation_key=slugify(key, limit=120),
        title=title,
        lead=" ".join(lead.split()),
        blocks=tuple(blocks),
        topics=tuple(_dedupe([*own_topics, *topics]))[: fields.LIMITS["topics"]],
        countries=tuple(fields.countries(meta, source)),
        urgency=urgency,
        urgent=fields.flag(meta, "urgent", source),
        url=fields.url(meta, "url", source),
        date=fields.date(meta, source),
        cta=tuple(fields.actions(meta, source)),
        source=source,
    )
    _refuse_decoded_controls(statement, source)
    return statement


def _refuse_decoded_controls(statement: Statement, source: str) -> None:
    """Escapes decode to control characters too (YAML's "\\e", HTML's `&#27;`)."""
    values = {
        "title": [statement.title],
        "lead": [statement.lead],
        "body": [text for b in statement.blocks for text in (b.text, b.html)],
        "topics": list(statement.topics),
        "translation_key": [statement.translation_key],
        "cta": [str(v) for c in statement.cta for v in (c.kind, c.label, c.url)],
    }
    for name, texts in values.items():
        for text in texts:
            found = _CONTROL.search(text)
            if found is not None:
                raise StatementError(
                    f"control character U+{ord(found.group()):04X} not allowed",
                    file=source,
                    field=name,
                )


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word and marked with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _refuse_control_characters(content: str, source: str) -> None:
    """NUL, ESC, DEL and the other control characters have no place in a statement: they
    would reach headers, terminals and pages. One error naming the line of the first one."""
    found = _CONTROL.search(content)
    if found is not None:
        line = content.count("\n", 0, found.start()) + 1
        raise StatementError(
            f"control character U+{ord(found.group()):04X} not allowed", file=source, line=line
        )


def _check_body(blocks: list[Block], source: str) -> None:
    if not blocks:
        raise StatementError("empty body: no paragraph after the title", file=source)
    if len(blocks) > MAX_BLOCKS:
        raise StatementError(f"body: more than {MAX_BLOCKS} paragraphs", file=source)
    if sum(len(b.text) for b in blocks) > MAX_BODY:
        raise StatementError(f"body: longer than {MAX_BODY:,} characters", file=source)


def _language(
    meta: dict[str, Any], from_name: str | None, title: str, blocks: list[Block], source: str
) -> str:
    declared = fields.optional_text(meta, "lang", source, limit=20) or from_name
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


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            kept.append(item)
    return kept
