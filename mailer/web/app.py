"""The Starlette app: every route behind one guard (only POST acts, bounded requests, security headers)."""

from __future__ import annotations

from typing import Any, cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from mailer.runtime import Runtime
from mailer.web.archive import archive_routes
from mailer.web.guard import Guard
from mailer.web.preferences import preference_routes
from mailer.web.signup import Queue, signup_routes
from mailer.web.subscription import subscription_routes
from mailer.web.view import view_routes

__all__ = ["MailerApp", "create_app"]


class MailerApp(Starlette):
    """Starlette with the guard outside everything, its own error pages included, and no
    trailing-slash redirect (the guard serves such paths in place)."""

    def __init__(self, *, public_url: str, routes: list[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes=routes, **kwargs)
        self.router.redirect_slashes = False
        self._public_url = public_url

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        return cast(ASGIApp, Guard(cast(Any, inner), public_url=self._public_url))


def create_app(rt: Runtime, *, queue: Queue | None = None) -> MailerApp:
    """The subscriber-facing web app over a runtime; `queue` sends the signup page's
    confirmation emails (default: through Celery, configured on first use)."""

    async def healthz(request: Request) -> Response:
        with rt.db.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return PlainTextResponse("ok")

    return MailerApp(
        public_url=rt.settings.public_url,
        routes=[
            *subscription_routes(rt),
            *preference_routes(rt),
            *view_routes(rt),
            Route("/healthz", healthz, methods=["GET"]),
            *signup_routes(rt, queue=queue),
            *archive_routes(rt),
        ],
    )
