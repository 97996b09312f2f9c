"""The subscriber-facing pages: one-click unsubscribe, double opt-in, preferences, view online."""

from mailer.web.app import create_app

__all__ = ["create_app"]
