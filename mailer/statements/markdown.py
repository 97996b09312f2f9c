"""Markdown with YAML front matter: split, load the metadata, turn the body into blocks."""

from __future__ import annotations

import re
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from mailer.errors import StatementError
from mailer.statements.model import Block, BlockKind

__all__ = ["markdown_blocks", "split_front_matter"]

_FENCE = re.compile(r"^---\s*$")
# html=False: raw HTML in a statement is shown as text, never injected into emails.
_MD = MarkdownIt("commonmark", {"html": False})


def split_front_matter(content: str, *, source: str) -> tuple[dict[str, Any], str, int]:
    """Return (metadata, body, line number where the body starts)."""
    lines = content.split("\n")
    if not lines or not _FENCE.match(lines[0]):
        raise StatementError(
            "front matter missing: the file must start with a '---' line", file=source, line=1
        )
    for index in range(1, len(lines)):
        if _FENCE.match(lines[index]):
            break
    else:
        raise StatementError("front matter not closed: no second '---' line", file=source, line=1)
    try:
        meta = yaml.safe_load("\n".join(lines[1:index])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise StatementError(f"broken front matter: {problem}", file=source, line=line) from exc
    if not isinstance(meta, dict):
        raise StatementError(
            "front matter must be a mapping of keys to values", file=source, line=2
        )
    return meta, "\n".join(lines[index + 1 :]), index + 2


def _plain(children: list[Token]) -> str:
    parts: list[str] = []
    for child in children:
        if child.type in {"text", "code_inline"}:
            parts.append(child.content)
        elif child.type in {"softbreak", "hardbreak"}:
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)  # the alt text
    return " ".join("".join(parts).split())


def markdown_blocks(body: str) -> list[Block]:
    """Paragraphs, quotes, headings and list items, each with plain text and safe inline HTML."""
    tokens = _MD.parse(body)
    blocks: list[Block] = []
    quote_depth = 0
    pending: BlockKind = "paragraph"
    for token in tokens:
        if token.type == "blockquote_open":
            quote_depth += 1
        elif token.type == "blockquote_close":
            quote_depth -= 1
        elif token.type == "heading_open":
            pending = "heading"
        elif token.type == "list_item_open":
            pending = "list_item"
        elif token.type == "list_item_close":
            pending = "paragraph"
        elif token.type == "inline":
            children = token.children or []
            text = _plain(children)
            if not text:
                continue
            kind: BlockKind = "quote" if quote_depth and pending == "paragraph" else pending
            renderer: Any = _MD.renderer
            inline_html = str(renderer.renderInline(children, _MD.options, {})).strip()
            blocks.append(Block(kind=kind, text=text, html=inline_html))
            if pending == "heading":
                pending = "paragraph"
        elif token.type == "fence" or token.type == "code_block":
            text = token.content.strip()
            if text:
                from html import escape

                blocks.append(Block(kind="paragraph", text=text, html=escape(text, quote=False)))
    return blocks
