"""Write an email variant as HTML for a person to look at, and as PNG with headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from mailer.campaigns.audience import email_locale
from mailer.errors import MailerError
from mailer.org import OrgProfile
from mailer.render.variant import render_email
from mailer.statements.model import Statement

__all__ = ["CHROMIUM_NAMES", "WIDTHS", "find_chromium", "preview_html", "screenshot"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
WIDTHS = (600, 375)


def preview_html(statement: Statement, *, locale: str, org: OrgProfile) -> str:
    """The HTML a sample recipient of this locale would get (links point at the preview host)."""
    variant = render_email("alert", statement, locale=email_locale(locale, statement), org=org)
    return variant.html.fill(
        {
            "greeting": variant.greeting(""),
            "unsubscribe_url": "https://preview.invalid/u/example",
            "preferences_url": "https://preview.invalid/preferences/example",
            "view_url": "https://preview.invalid/view/example",
        }
    )


def find_chromium() -> str | None:
    """The path of a Chromium binary, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(html_path: Path, png_path: Path, *, width: int, height: int = 2400) -> None:
    """Render an HTML file to PNG at a given width with headless Chromium."""
    binary = find_chromium()
    if binary is None:
        raise MailerError(
            "--png needs Chromium: install Debian's package with `apt-get install chromium`"
        )
    with tempfile.TemporaryDirectory(prefix="mailer-chromium-") as profile:
        command = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png_path.resolve()}",
            html_path.resolve().as_uri(),
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=90)
        except subprocess.CalledProcessError as exc:
            tail = exc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise MailerError(f"chromium failed on {html_path}: {tail[0]}") from exc
        except subprocess.TimeoutExpired as exc:
            raise MailerError(f"chromium took too long on {html_path}") from exc
