"""Where the project's shipped files live: templates, catalogs, examples."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLES_DIR", "LOCALE_DIR", "PROJECT_DIR", "TEMPLATES_DIR"]

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_DIR / "templates"
LOCALE_DIR = TEMPLATES_DIR / "locale"
EXAMPLES_DIR = PROJECT_DIR / "examples"
