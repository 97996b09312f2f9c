"""The email quality gate: structure, size, headers, safety, and SpamAssassin's local score."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

__all__ = [
    "FORBIDDEN_RULES",
    "MAX_BYTES",
    "REQUIRED_HEADERS",
    "SpamScore",
    "problems",
    "spam_score",
]

MAX_BYTES = 102 * 1024  # Gmail clips messages over 102 KB
REQUIRED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Content-Language",
    "X-Mailer-Campaign",
)
FORBIDDEN_RULES = re.compile(r"^(MISSING_\w+|MIME_HTML_ONLY|HTML_IMAGE_ONLY_\w+)$")
_EXTERNAL = re.compile(
    r"""(?:src|background)\s*=\s*["']?(?:https?:)?//|<link\b|@import|url\(\s*["']?(?:https?:)?//""",
    re.I,
)


@dataclass(frozen=True, slots=True)
class SpamScore:
    """SpamAssassin's verdict: the score and the rules that fired."""

    score: float
    rules: tuple[str, ...]


def problems(raw: bytes, *, list_mail: bool = True, tracking: bool = False) -> list[str]:
    """Everything wrong with a composed message, one line each (empty: it passes)."""
    found: list[str] = []
    if len(raw) >= MAX_BYTES:
        found.append(f"size {len(raw)} bytes is over {MAX_BYTES} (Gmail clips it)")
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    wanted = REQUIRED_HEADERS if list_mail else ("From", "To", "Subject", "Date", "Message-ID")
    found += [f"header {name} missing" for name in wanted if not parsed[name]]
    if parsed.get_content_type() != "multipart/alternative":
        found.append(f"not multipart/alternative but {parsed.get_content_type()}")
    text_part = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    if text_part is None:
        found.append("no text/plain part")
    if html_part is None:
        found.append("no text/html part")
    html = html_part.get_content() if html_part is not None else ""
    if text_part is not None:
        text = text_part.get_content()
        if len(text.split()) < 20:
            found.append("the text part is too short to be read on its own")
        links_html = {
            link.replace("&amp;", "&") for link in re.findall(r'href="(https?://[^"]+)"', html)
        }
        missing = links_html - set(re.findall(r"https?://\S+", text))
        if missing:
            found.append(f"the text part lacks links of the HTML part: {sorted(missing)[:3]}")
    if re.search(r"<script\b", html, re.I):
        found.append("the HTML has a script")
    if re.search(r"<form\b", html, re.I):
        found.append("the HTML has a form")
    if not tracking and _EXTERNAL.search(html):
        found.append("the HTML loads an external resource")
    if re.search(r"<img\b(?![^>]*\balt=)", html, re.I):
        found.append("an image has no alt text")
    if list_mail and "List-Unsubscribe=One-Click" not in str(
        parsed.get("List-Unsubscribe-Post", "")
    ):
        found.append("List-Unsubscribe-Post is not RFC 8058 one-click")
    return found


def spam_score(raw: bytes, *, timeout: float = 120) -> SpamScore:
    """Run `spamassassin -L -t` (local rules only, no network) and read its verdict."""
    binary = shutil.which("spamassassin")
    if binary is None:
        raise FileNotFoundError(
            "spamassassin is not installed (Debian: apt-get install spamassassin)"
        )
    result = subprocess.run(
        [binary, "-L", "-t"], input=raw, capture_output=True, timeout=timeout, check=False
    )
    head = result.stdout.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    status = re.search(
        r"X-Spam-Status:.*?score=(-?[\d.]+).*?tests=(.*?)(?:autolearn|version|$)",
        head.replace("\n\t", " ").replace("\n ", " "),
        re.S,
    )
    if status is None:
        raise RuntimeError(
            f"no X-Spam-Status in spamassassin's output: {result.stderr.decode()[:200]}"
        )
    rules = tuple(r for r in re.split(r"[,\s]+", status.group(2)) if r and r != "none")
    return SpamScore(float(status.group(1)), rules)
