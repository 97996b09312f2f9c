"""The public signup page: `GET /subscribe[/{lang}]` shows the form, `POST /subscribe` takes it.

- Always double opt-in: a new person is pending and gets the same localized confirmation
  email as an import, through the same Celery task; only the POST of its link confirms.
- CSRF: the form carries a signed token bound to a cookie (SameSite=Lax) that only our own
  page sets. A POST without both (the embeddable snippet on the organisation's site, or a
  page left open for hours) subscribes nobody: it gets the same form back, filled in, with a
  fresh token, and one more press of the button subscribes.
- A honeypot field, per-IP and per-address limits, bounded fields and body.
- The answer never says whether the address was known: every accepted POST gets the same
  page, with the same status, no sooner than `ANSWER_SECONDS` after it arrived, whether the
  address is new, pending, subscribed, unsubscribed, bounced, complained or erased. Who
  unsubscribed or was erased gets the confirmation email and comes back only by confirming;
  who bounced or complained gets nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mailer.errors import SubscriberRowError
from mailer.runtime import Runtime
from mailer.subscribers.signup import offered_topics, sign_up
from mailer.subscribers.validate import SubscriberData, validate_row
from mailer.web.language import published_locale, visitor_locale
from mailer.web.pages import countries, languages, page, page_locale
from mailer.web.throttle import WindowCounter, open_counter, throttle_key

__all__ = ["ANSWER_SECONDS", "signup_routes"]

log = logging.getLogger("mailer.web.signup")

ANSWER_SECONDS = 0.4  # every accepted POST is answered after this long, whatever it did
COOKIE = "mailer_signup"
TOKEN_SECONDS = 2 * 3600
MAX_BODY = 16 * 1024  # a form with every topic checked is under 8 KB
MAX_FIELDS = 400
PER_IP = (60, 3600)  # POSTs per hour from one address of the internet (an office, a venue)
PER_ADDRESS = (3, 3600)  # confirmation emails per hour to one mailbox
_NONCE = re.compile(r"[A-Za-z0-9_-]{22,64}")

Queue = Callable[[list[int]], None]


@dataclass(frozen=True, slots=True)
class _Form:
    """What the form said, bounded: only what the organisation offers is kept."""

    email: str = ""
    name: str = ""
    language: str = ""
    topics: tuple[str, ...] = ()
    country: str = ""
    csrf: str = ""
    trap: str = ""
    ui: str = ""


def _read_form(body: bytes, offered: list[str]) -> _Form:
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS
        )
    except ValueError:
        pairs = []
    values: dict[str, str] = {}
    chosen: list[str] = []
    canonical = {t.casefold(): t for t in offered}
    for key, value in pairs:
        if key == "topics":
            topic = canonical.get(" ".join(value.split()).casefold())
            if topic and topic not in chosen:
                chosen.append(topic)
        elif key in {"email", "name", "language", "country", "csrf", "website", "ui"}:
            values.setdefault(key, value)  # the body's bound bounds them
    return _Form(
        email=values.get("email", "").strip(),
        name=" ".join(values.get("name", "").split()),
        language=values.get("language", ""),
        topics=tuple(chosen),
        country=values.get("country", "").strip().upper()[:2],
        csrf=values.get("csrf", ""),
        trap=values.get("website", ""),
        ui=values.get("ui", ""),
    )


def _validated(form: _Form) -> SubscriberData:
    """The form as a subscriber record, with the importer's checks and normalisation; a
    country or language the form never offered is left out, not an error."""
    if len(form.email) > 254:  # RFC 5321's limit on a path, checked before any parsing
        raise SubscriberRowError("too long", field="email")
    row = {"email": form.email, "name": form.name, "locale": form.language, "country": form.country}
    try:
        data = validate_row(row)
    except SubscriberRowError as exc:
        if exc.field not in {"country", "locale"}:
            raise
        data = validate_row({**row, exc.field: ""})
    return dataclasses.replace(data, topics=form.topics)


async def _body(request: Request) -> bytes | None:
    """The request body, or None when it is larger than MAX_BODY."""
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _celery_queue(rt: Runtime) -> Queue:
    # Celery is imported and configured by the first signup: the pages need none of it.
    def queue(subscriber_ids: list[int]) -> None:
        from workers.app import configure
        from workers.tasks import send_confirmations_task

        configure(rt.settings)
        send_confirmations_task.delay(subscriber_ids)

    return queue


def _mailbox(email: str) -> str:
    """The mailbox an address reaches, for the per-address limit: `name+anything@` is
    `name@` (subaddresses, RFC 5233), whatever the case."""
    local, _, domain = email.casefold().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def signup_routes(
    rt: Runtime, *, queue: Queue | None = None, counter: WindowCounter | None = None
) -> list[Route]:
    """`GET /subscribe`, `GET /subscribe/{lang}` and `POST /subscribe`."""
    tokens = URLSafeTimedSerializer(rt.settings.secret_key, salt="mailer.signup.csrf")
    secret = hashlib.sha256(b"mailer.signup.throttle:" + rt.settings.secret_key.encode()).digest()
    counts = counter or open_counter(rt.settings.broker_url)
    send = queue or _celery_queue(rt)
    base = rt.settings.public_url
    cookie_path = (urlsplit(base).path or "") + "/subscribe"

    def topics() -> list[str]:
        with rt.db.session() as session:
            return offered_topics(session, rt.org)

    def form_page(
        request: Request, locale: str, form: _Form, *, status: int = 200, **notes: str
    ) -> Response:
        cookie = request.cookies.get(COOKIE, "")
        nonce = cookie if _NONCE.fullmatch(cookie) else secrets.token_urlsafe(24)
        ui = page_locale(rt.org, locale)
        response = page(
            rt.org,
            ui,
            "subscribe",
            status=status,
            title_msgid="Subscribe to our alerts",
            public_url=base,
            csrf=tokens.dumps(nonce),
            current=locale,
            languages=languages(rt.org),
            topics=topics(),
            countries=countries(ui),
            form=form,
            notice=notes.get("notice", ""),
            error=notes.get("error", ""),
        )
        response.set_cookie(
            COOKIE,
            nonce,
            max_age=TOKEN_SECONDS,
            path=cookie_path,
            secure=base.startswith("https://"),
            httponly=True,
            samesite="lax",
        )
        return response

    def simple_page(locale: str, template: str, title: str, status: int = 200) -> Response:
        return page(
            rt.org,
            page_locale(rt.org, locale),
            template,
            status=status,
            title_msgid=title,
            public_url=base,
            current=locale,
        )

    def valid_token(request: Request, form: _Form) -> bool:
        cookie = request.cookies.get(COOKIE, "")
        try:
            nonce = tokens.loads(form.csrf, max_age=TOKEN_SECONDS)
        except BadSignature:  # altered, forged or expired (SignatureExpired is one)
            return False
        return bool(_NONCE.fullmatch(cookie)) and secrets.compare_digest(str(nonce), cookie)

    def within(key: str, limit: tuple[int, int]) -> bool | None:
        """True under the limit, False over it, None when the counters cannot be reached."""
        try:
            return counts.hit(key, limit=limit[0], window=limit[1])
        except Exception:  # Redis unreachable: take nothing rather than everything
            log.warning("signup: the rate limit store is unreachable", exc_info=True)
            return None

    def record(data: SubscriberData) -> None:
        with rt.db.session() as session:
            subscriber_id = sign_up(session, data)
        if subscriber_id is not None:
            try:
                send([subscriber_id])
            except Exception:  # the broker is down: the person may try again later
                log.warning("signup: the confirmation could not be queued", exc_info=True)

    async def signup(request: Request) -> Response:
        return await (take(request) if request.method == "POST" else show(request))

    async def show(request: Request) -> Response:
        named = request.path_params.get("lang")
        if named is not None and published_locale(rt.org, named) is None:
            return simple_page(rt.org.default_locale, "not_found", "This link is not valid", 404)
        locale = visitor_locale(
            rt.org,
            named=named or request.query_params.get("lang"),
            accept_language=request.headers.get("accept-language"),
        )
        return await run_in_threadpool(form_page, request, locale, _Form(language=locale))

    async def take(request: Request) -> Response:
        started = time.monotonic()
        body = await _body(request)
        if body is None:
            return PlainTextResponse("request too large", status_code=413)
        form = _read_form(body, await run_in_threadpool(topics))
        locale = (
            published_locale(rt.org, form.ui)
            or published_locale(rt.org, form.language)
            or rt.org.default_locale
        )
        form = dataclasses.replace(form, language=published_locale(rt.org, form.language) or locale)
        client = request.client.host if request.client else "unknown"
        allowed = within(throttle_key(secret, "ip", client), PER_IP)
        if not allowed:
            status = 503 if allowed is None else 429
            return simple_page(locale, "subscribe_later", "Please try again later", status)
        if not valid_token(request, form):
            # The snippet's POST, or a stale page: the form again, filled in, to confirm.
            return await run_in_threadpool(form_page, request, locale, form, notice="check")
        error = ""
        data = None
        try:
            data = _validated(form)
        except SubscriberRowError as exc:
            error = "name" if exc.field == "name" else "email"
        if (
            data is not None
            and not form.trap
            and within(throttle_key(secret, "address", _mailbox(data.email)), PER_ADDRESS)
        ):
            await run_in_threadpool(record, data)
        # Same page, same status, same delay for every address (and for the honeypot).
        await asyncio.sleep(max(0.0, ANSWER_SECONDS - (time.monotonic() - started)))
        if error:
            return await run_in_threadpool(
                form_page, request, locale, form, status=400, error=error
            )
        return simple_page(locale, "subscribe_sent", "Check your inbox")

    return [
        Route("/subscribe", signup, methods=["GET", "POST"]),
        Route("/subscribe/{lang}", show, methods=["GET"]),
    ]
