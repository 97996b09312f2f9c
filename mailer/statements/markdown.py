"""A Markdown body turned into blocks; every link and image checked against the URL allow-list."""

from __future__ import annotations

from html import escape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from mailer.errors import StatementError
from mailer.statements.frontmatter import split_front_matter
from mailer.statements.model import Block, BlockKind
from mailer.urls import url_problem

__all__ = ["markdown_blocks", "split_front_matter"]


class _Markdown(MarkdownIt):
    """CommonMark with raw HTML shown as text (never injected into emails), and every link
    kept as a link so that `markdown_blocks` can refuse a bad one by name instead of
    markdown-it quietly printing it as text."""

    def validateLink(self, url: str) -> bool:
        return True


_MD = _Markdown("commonmark", {"html": False})


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


def _check_links(children: list[Token], *, source: str, line: int) -> None:
    """Refuse a link or image whose URL is not an absolute http(s) or mailto: URL."""
    for child in children:
        if child.type == "link_open":
            what, url = "link", child.attrGet("href")
        elif child.type == "image":
            what, url = "image", child.attrGet("src")
            if url_problem(url) is None and str(url).lower().startswith("mailto:"):
                raise StatementError(
                    "image: must be an https:// URL", file=source, line=line, field="body"
                )
        else:
            continue
        problem = url_problem(url)
        if problem is not None:
            shown = str(url)[:80]
            raise StatementError(
                f"{what} {shown!r}: {problem}", file=source, line=line, field="body"
            )
        if child.children:
            _check_links(child.children, source=source, line=line)


def markdown_blocks(body: str, *, source: str = "<text>", first_line: int = 1) -> list[Block]:
    """Paragraphs, quotes, headings and list items, each with plain text and safe inline HTML.

    `first_line` is the file's line of the body's first line, for error messages."""
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
            line = first_line + (token.map[0] if token.map else 0)
            _check_links(children, source=source, line=line)
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
                blocks.append(Block(kind="paragraph", text=text, html=escape(text, quote=False)))
    return blocks
