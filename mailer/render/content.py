"""Rebuild a statement's inline HTML from an allow-list: emphasis, code, breaks, safe links, allowed images.

Statements are checked when they are parsed; this is the second line, at render time, for
whatever is stored (older imports, a future parser's slip): the email and `/view` get only
tags and attributes written here, links only with an allowed scheme, and no image from a
host the organisation did not name (a remote image is a tracking pixel: it tells its host
who opened the email, when and from where).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from lxml import etree
from lxml import html as lxml_html

from mailer.urls import safe_url

__all__ = ["clean_inline_html", "image_allowed"]

# Tags kept as they are (without attributes); any other tag is replaced by its text.
_PLAIN_TAGS = {"em": "em", "i": "em", "strong": "strong", "b": "strong", "code": "code"}


def image_allowed(src: str | None, hosts: frozenset[str]) -> bool:
    """True when an image may be loaded: an http(s) URL on a host the organisation allows."""
    url = safe_url(src)
    if url is None or not hosts:
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in {"https", "http"} and (parts.hostname or "") in hosts


def clean_inline_html(fragment: str, *, image_hosts: frozenset[str] = frozenset()) -> str:
    """The fragment's text and allowed markup, escaped anew; never raises on any input."""
    if "<" not in fragment and "&" not in fragment:
        return escape(fragment, quote=False)
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return escape(fragment, quote=False)
    out: list[str] = []
    try:
        _children(root, out, image_hosts)
    except RecursionError:  # absurd nesting: its text alone
        return escape(root.text_content(), quote=False)
    return "".join(out)


def _children(element: lxml_html.HtmlElement, out: list[str], hosts: frozenset[str]) -> None:
    if element.text:
        out.append(escape(element.text, quote=False))
    for child in element:
        _element(child, out, hosts)
        if child.tail:
            out.append(escape(child.tail, quote=False))


def _element(element: lxml_html.HtmlElement, out: list[str], hosts: frozenset[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if not tag:
        return  # a comment or processing instruction: nothing of it reaches the email
    tag = tag.lower()
    if tag == "br":
        out.append("<br>")
    elif tag == "img":
        alt = element.get("alt") or ""
        src = element.get("src")
        if image_allowed(src, hosts):
            out.append(f'<img src="{escape(str(src).strip())}" alt="{escape(alt)}">')
        else:
            out.append(escape(alt, quote=False))  # the alt text stays; nothing is loaded
    elif tag == "a":
        href = safe_url(element.get("href"))
        if href is None:
            _children(element, out, hosts)  # the link text without the link
        else:
            out.append(f'<a href="{escape(href)}">')
            _children(element, out, hosts)
            out.append("</a>")
    elif tag in _PLAIN_TAGS:
        name = _PLAIN_TAGS[tag]
        out.append(f"<{name}>")
        _children(element, out, hosts)
        out.append(f"</{name}>")
    elif tag not in {"script", "style", "template"}:
        _children(element, out, hosts)
