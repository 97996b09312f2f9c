"""The subscriber-facing pages: one-click unsubscribe, double opt-in, preferences, view online."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.exports import load_export

if TYPE_CHECKING:
    from mailer.web.app import create_app

__all__ = [
    "create_app",
]

_EXPORTS = {
    "create_app": "mailer.web.app",
}


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)
