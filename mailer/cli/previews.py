"""`mailer preview`: a statement's alert per locale, as HTML files (and PNGs) to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mailer.campaigns.audience import choose_version
from mailer.campaigns.languages import check_group
from mailer.cli.common import console, err, fail, friendly, open_runtime
from mailer.i18n import available_catalogs
from mailer.locales import normalise_locale
from mailer.preview import WIDTHS, find_chromium, preview_html, screenshot
from mailer.runtime import Runtime
from mailer.statements.repository import group_of, load

__all__ = ["preview", "write_previews"]


def write_previews(
    rt: Runtime, statement_id: str, locales: list[str], out: Path, *, png: bool
) -> list[Path]:
    """One HTML file (and PNGs at 600 and 375 px) per locale; returns the paths written."""
    with rt.db.session() as session:
        versions = group_of(session, load(session, statement_id).translation_key)
    if not locales:
        # Every language the group is sent in; a version that is not sent is said, not drawn.
        check = check_group(versions, rt.org, available_catalogs())
        for warning in check.warnings():
            err.print(f"warning: {warning}", markup=False, soft_wrap=True)
        versions = check.sendable(versions) or versions
    wanted = locales or sorted({v.lang for v in versions})
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for code in wanted:
        locale = normalise_locale(code)
        if locale is None:
            fail(f"--locale: unknown locale {code!r}", 2)
        version = choose_version(locale, versions, rt.org)
        path = out / f"{version.translation_key}.{locale}.html"
        path.write_text(preview_html(version, locale=locale, org=rt.org), encoding="utf-8")
        written.append(path)
        if png:
            for width in WIDTHS:
                image = path.with_suffix(f".{width}.png")
                screenshot(path, image, width=width)
                written.append(image)
    return written


@friendly
def preview(
    statement_id: Annotated[str, typer.Argument(help="Any statement of the translation group.")],
    locale: Annotated[
        list[str] | None, typer.Option("--locale", help="Locale to render (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the files.")] = Path("previews"),
    png: Annotated[
        bool, typer.Option("--png", help="Also PNGs at 600 and 375 px (needs chromium).")
    ] = False,
) -> None:
    """Render the alert of a statement per locale to HTML (and PNG) files."""
    if png and find_chromium() is None:
        fail("--png needs Chromium: install Debian's package with `apt-get install chromium`", 1)
    rt = open_runtime()
    for path in write_previews(rt, statement_id, locale or [], out, png=png):
        console.print(str(path), markup=False)
