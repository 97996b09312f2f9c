"""Press releases as published: plain text or HTML, with the site chrome left behind."""

from __future__ import annotations

from lxml import html as lxml_html

from mailer.errors import StatementError
from mailer.statements.blocks import Chunk
from mailer.statements.chrome import is_chrome_line, strip_trailing_chrome

__all__ = ["html_chunks", "text_chunks"]


def text_chunks(content: str, *, source: str) -> tuple[str, list[Chunk]]:
    """Title (first non-empty line) and blank-line separated paragraphs, trailing chrome dropped."""
    lines = strip_trailing_chrome(content.split("\n"))
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise StatementError("no title: the file is empty", file=source, line=1)
    title = lines[0].strip()
    chunks: list[Chunk] = []
    current: list[str] = []
    for line in [*lines[1:], ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            chunks.append(Chunk("\n".join(current)))
            current = []
    return title, chunks


_DROP = ("script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template")
_BLOCK_HINTS = {"h2": "heading", "h3": "heading", "h4": "heading", "li": "list_item", "p": None}


def html_chunks(content: str, *, source: str) -> tuple[str, list[Chunk]]:
    """Title from <h1> (or <title>), blocks from p, blockquote, h2-h4 and li; chrome elements dropped."""
    try:
        document = lxml_html.document_fromstring(content)
    except Exception as exc:  # lxml raises several unrelated types on garbage
        raise StatementError(f"not readable as HTML: {exc}", file=source) from exc
    for element in document.xpath("|".join(f"//{tag}" for tag in _DROP)):
        element.drop_tree()
    root = document.xpath("//article") or document.xpath("//main") or [document]
    scope = root[0]
    heading = scope.xpath(".//h1") or document.xpath("//h1") or document.xpath("//title")
    title = " ".join(heading[0].text_content().split()) if heading else ""
    if not title:
        raise StatementError("no title: no <h1> or <title> element", file=source)
    chunks: list[Chunk] = []
    for element in scope.iter("p", "blockquote", "h2", "h3", "h4", "li"):
        if element.tag == "p" and _inside(element, "blockquote"):
            continue
        text = " ".join(element.text_content().split())
        if not text:
            continue
        hint = "quote" if element.tag == "blockquote" else _BLOCK_HINTS.get(element.tag)
        chunks.append(Chunk(text, hint=hint))  # type: ignore[arg-type]
    while chunks and is_chrome_line(chunks[-1].text):
        chunks.pop()
    return title, chunks


def _inside(element: lxml_html.HtmlElement, tag: str) -> bool:
    parent = element.getparent()
    while parent is not None:
        if parent.tag == tag:
            return True
        parent = parent.getparent()
    return False
