"""The public archive: published statements per language, each shown as its email, without
anyone's data (`GET /archive/{lang}` and `GET /archive/{lang}/{statement}`).

Only statements published at or before now are listed or shown; drafts and embargoed ones
answer 404 like unknown ones. `archive = false` under [organisation] turns it all off (404).
The email's personal slots get neutral values: a greeting without a name, and links that
lead nowhere personal (unsubscribe and preferences go nowhere, view-online to the page itself).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from babel.dates import format_date
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from mailer.org import chain_for
from mailer.render.environment import environment
from mailer.runtime import Runtime
from mailer.statements.model import Statement
from mailer.statements.repository import to_statement
from mailer.store.models import StatementRow, utcnow
from mailer.web.language import published_locale, visitor_locale
from mailer.web.pages import languages, page, page_locale
from mailer.web.view import email_policy

__all__ = ["PAGE_SIZE", "archive_routes"]

PAGE_SIZE = 20
_MAX_PAGE = 10_000
_RENDERED = 128  # emails kept rendered (premailer is the expensive part)
_LEAD = 280
# The email's own inline styles and nothing else; sandboxed, as the view-online page is.
_PUBLIC_CACHE = "public, max-age=300"  # nothing personal: proxies may keep it a little
_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Item:
    title: str
    date: str
    lead: str
    url: str


def _in_language(lang: str) -> ColumnElement[bool]:
    return or_(StatementRow.lang == lang, StatementRow.lang.startswith(lang + "_"))


def _published() -> ColumnElement[bool]:
    return StatementRow.published_at.is_not(None) & (StatementRow.published_at <= utcnow())


def _short(text: str) -> str:
    return text if len(text) <= _LEAD else text[:_LEAD].rsplit(" ", 1)[0] + " …"


class _Rendered:
    """Emails rendered once per (statement, content, language), the newest kept."""

    def __init__(self) -> None:
        self._html: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self._lock:
            html = self._html.get(key)
            if html is not None:
                self._html.move_to_end(key)
            return html

    def put(self, key: tuple[str, str, str], html: str) -> None:
        with self._lock:
            self._html[key] = html
            while len(self._html) > _RENDERED:
                self._html.popitem(last=False)


def archive_routes(rt: Runtime) -> list[Route]:
    """`GET /archive`, `GET /archive/{lang}` and `GET /archive/{lang}/{statement}`."""
    base = rt.settings.public_url
    rendered = _Rendered()

    def not_found() -> Response:
        locale = page_locale(rt.org, None)
        return page(rt.org, locale, "not_found", status=404, title_msgid="This link is not valid")

    def listing(lang: str, number: int) -> Response:
        with rt.db.session() as session:
            rows = session.execute(
                select(
                    StatementRow.id,
                    StatementRow.title,
                    StatementRow.lead,
                    StatementRow.date,
                    StatementRow.published_at,
                )
                .where(_published(), _in_language(lang))
                .order_by(StatementRow.published_at.desc(), StatementRow.id)
                .offset((number - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE + 1)
            ).all()
        if not rows and number > 1:
            return not_found()
        ui = page_locale(rt.org, lang)
        items = [
            _Item(
                title=title,
                date=format_date(date or (published or utcnow()).date(), format="long", locale=ui),
                lead=_short(lead),
                url=f"{base}/archive/{lang}/{statement_id}",
            )
            for statement_id, title, lead, date, published in rows[:PAGE_SIZE]
        ]
        response = page(
            rt.org,
            ui,
            "archive",
            title_msgid="Our past alerts",
            public_url=base,
            current=lang,
            languages=languages(rt.org),
            alternates=[(code, f"{base}/archive/{code}") for code in rt.org.locales],
            items=items,
            newer=f"{base}/archive/{lang}?page={number - 1}" if number > 1 else "",
            older=f"{base}/archive/{lang}?page={number + 1}" if len(rows) > PAGE_SIZE else "",
        )
        response.headers["Cache-Control"] = _PUBLIC_CACHE
        return response

    def translations(session: Session, row: StatementRow) -> list[tuple[str, str]]:
        others = session.execute(
            select(StatementRow.id, StatementRow.lang).where(
                StatementRow.translation_key == row.translation_key, _published()
            )
        ).all()
        links = []
        for statement_id, lang in sorted(others, key=lambda pair: pair[1]):
            code = published_locale(rt.org, lang)
            if code:
                links.append((code, f"{base}/archive/{code}/{statement_id}"))
        return links

    def email(lang: str, statement_id: str) -> Response:
        with rt.db.session() as session:
            row = session.get(StatementRow, statement_id)
            if (
                row is None
                or row.published_at is None
                or row.published_at > utcnow()
                or published_locale(rt.org, row.lang) != lang
            ):
                return not_found()
            alternates = translations(session, row)
            key = (row.id, row.content_hash, lang)
            html = rendered.get(key)
            if html is None:
                html = _neutral_email(
                    rt, to_statement(row), lang, f"{base}/archive/{lang}/{row.id}"
                )
                rendered.put(key, html)
        head = "".join(
            f'<link rel="alternate" hreflang="{code}" href="{url}">\n' for code, url in alternates
        )
        canonical = f'<link rel="canonical" href="{base}/archive/{lang}/{statement_id}">\n'
        html = html.replace("</head>", canonical + head + "</head>", 1)
        bar = (
            environment(chain_for(rt.org, lang))
            .get_template("web/archive_bar.html.j2")
            .render(public_url=base, current=lang, dir=_direction(html))
        )
        found = _BODY.search(html)
        if found:
            html = html[: found.end()] + bar + html[found.end() :]
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": email_policy(rt.org.image_hosts),
                "Cache-Control": _PUBLIC_CACHE,
            },
        )

    async def index(request: Request) -> Response:
        if not rt.org.archive:
            return not_found()
        named = request.path_params.get("lang")
        if named is None:
            lang = visitor_locale(
                rt.org, named=None, accept_language=request.headers.get("accept-language")
            )
        elif published_locale(rt.org, named) != named:
            return not_found()
        else:
            lang = named
        number = request.query_params.get("page", "1")
        if not number.isdigit() or not 1 <= int(number) <= _MAX_PAGE:
            return not_found()
        return await run_in_threadpool(listing, lang, int(number))

    async def statement(request: Request) -> Response:
        lang = request.path_params["lang"]
        statement_id = request.path_params["statement"]
        if not rt.org.archive or published_locale(rt.org, lang) != lang or len(statement_id) > 200:
            return not_found()
        return await run_in_threadpool(email, lang, statement_id)

    return [
        Route("/archive", index, methods=["GET"]),
        Route("/archive/{lang}", index, methods=["GET"]),
        Route("/archive/{lang}/{statement}", statement, methods=["GET"]),
    ]


def _direction(html: str) -> str:
    found = re.search(r'<html[^>]*\bdir="(rtl|ltr)"', html[:2000])
    return found.group(1) if found else "ltr"


def _neutral_email(rt: Runtime, statement: Statement, lang: str, here: str) -> str:
    """The alert email of a statement with the personal slots filled for nobody."""
    from mailer.render.variant import render_email  # loaded by the first statement page

    signup = f"{rt.settings.public_url}/subscribe/{lang}"
    variant = render_email("alert", statement, locale=lang, org=rt.org, subscribe_url=signup)
    neutral = {
        "greeting": variant.greeting(""),
        "unsubscribe_url": "#",
        "preferences_url": "#",
        "view_url": here,
        "confirm_url": "",
    }
    return variant.html.fill({field: neutral.get(field, "") for field in variant.html.fields})
