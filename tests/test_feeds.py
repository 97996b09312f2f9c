"""Feeds are fetched under bounds from a real local HTTP server: size, time, redirects, addresses."""

from __future__ import annotations

import datetime as dt
import gzip
import http.server
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.errors import ConfigError
from mailer.org import Source, load_profile
from mailer.statements.fetch import is_internal
from mailer.statements.repository import mark_published, save
from mailer.statements.sources import read_feed
from mailer.store.models import StatementRow
from tests.inprocess import EXAMPLES
from tests.servers import free_port


def _rss(*items: tuple[str, str], language: str = "en") -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><guid>{link or title}</guid><link>{link}</link>"
        "<description>The court confirmed today that the export licence is withdrawn.</description>"
        "</item>"
        for title, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Press</title>'
        f"<language>{language}</language>{entries}</channel></rss>"
    ).encode()


FEED = _rss(("Spyware firm loses appeal", "https://example.org/en/press/42"))

# What press sites publish: RSS 2.0 with <category> and an RFC 822 pubDate, Atom with
# <category term label> and RFC 3339 published/updated.
RSS_TAGGED = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Press</title>'
    "<language>en</language><item><title>Spyware firm loses appeal</title>"
    "<guid>https://example.org/en/press/44</guid><link>https://example.org/en/press/44</link>"
    "<category>surveillance</category><category domain='https://example.org/t'>NSO Group"
    "</category><category>Surveillance</category><category>\u0007  </category>"
    f"<category>{'x' * 101}</category>"
    # 00:30 in Brussels is still the 2nd there, though the 1st in UTC.
    "<pubDate>Wed, 02 Sep 2026 00:30:00 +0200</pubDate>"
    "<description>The court confirmed today that the export licence is withdrawn.</description>"
    "</item></channel></rss>"
).encode()
ATOM_TAGGED = (
    b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
    b'xml:lang="en"><title>Press</title><id>urn:press</id><updated>2026-11-30T10:00:00Z</updated>'
    b"<entry><title>Journalist detained at the border</title><id>urn:press:7</id>"
    b'<link href="https://example.org/en/press/7"/>'
    b'<category term="detention" label="Detention"/><category term="freedom-of-expression"/>'
    b"<published>2026-11-24T09:15:00+01:00</published><updated>2026-11-30T10:00:00Z</updated>"
    b"<summary>She was held for nine hours and her phone was searched.</summary></entry>"
    b"<entry><title>Only updated</title><id>urn:press:8</id>"
    b'<link href="https://example.org/en/press/8"/><updated>2026-12-01T23:59:00-05:00</updated>'
    b"<summary>An entry with no published date and no category.</summary></entry></feed>"
)
# A feed that says nothing of its language, subjects or places.
BARE = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Presse</title>'
    "<item><title>Un tribunal rejette la demande</title><guid>bare-1</guid>"
    "<link>https://example.org/fr/presse/1</link>"
    "<description>Le tribunal a rejeté aujourd’hui la demande visant à annuler la licence "
    "d’exportation de l’entreprise.</description></item></channel></rss>"
).encode()
MARKED = "__mailer_unsubscribe_url__"  # the fixed marker of before, in a third party's link


class _Handler(http.server.BaseHTTPRequestHandler):
    other = ""  # base URL of the second server, on another loopback address
    # The organisation's own feed, as the test makes it grow.
    language = "en"  # what the organisation's feed declares
    org_items: tuple[tuple[str, str], ...] = (
        ("Spyware found on activists' phones", "https://example.org/?p=101"),
    )

    def do_GET(self) -> None:
        routes = {
            "/feed.xml": lambda: self._send(FEED),
            "/hop": lambda: self._redirect("/feed.xml"),
            "/tagged.rss": lambda: self._send(RSS_TAGGED),
            "/tagged.atom": lambda: self._send(ATOM_TAGGED, content_type="application/atom+xml"),
            "/bare.rss": lambda: self._send(BARE),
            "/to-other-internal": lambda: self._redirect(f"{self.other}/feed.xml"),
            "/to-metadata": lambda: self._redirect("http://169.254.169.254/latest/meta-data/"),
            "/to-file": lambda: self._redirect("file:///etc/passwd"),
            "/loop": lambda: self._redirect("/loop"),
            "/big": lambda: self._send(b"<rss>" + b" " * (6 * 1024 * 1024) + b"</rss>"),
            "/bomb": self._bomb,
            "/slow": self._slow,
            "/slow-head": self._slow_head,
            "/marked": lambda: self._send(
                _rss(("Spyware firm loses appeal", f"https://evil.example/c?u={MARKED}"))
            ),
            "/org.rss": lambda: self._send(_rss(*_Handler.org_items, language=_Handler.language)),
            "/partner.rss": lambda: self._send(
                _rss(
                    (
                        "Retraction: we were wrong, install this update",
                        "https://example.org/?p=101",
                    ),
                    ("Decoy", "https://example.org/?p=102"),
                )
            ),
            "/links": lambda: self._send(
                _rss(
                    ("Script link", "javascript:alert(document.cookie)"),
                    ("File link", "file:///etc/passwd"),
                    ("Fine", "https://example.org/en/press/43"),
                )
            ),
        }
        routes.get(self.path, lambda: self.send_error(404))()

    def _send(
        self,
        body: bytes,
        encoding: str | None = None,
        content_type: str = "application/rss+xml",
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _bomb(self) -> None:
        # 16 MB of spaces in 16 KB: the reader must stop inflating at its limit.
        self._send(gzip.compress(b"<rss>" + b" " * (16 * 1024 * 1024), compresslevel=9), "gzip")

    def _slow_head(self) -> None:
        # Headers that never end, each well within a read's time-out.
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for n in range(40):  # bounded: stops by itself after 20 s
                self.wfile.write(f"X-Wait-{n}: a\r\n".encode())
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass

    def _slow(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        try:
            for _ in range(40):  # bounded: stops by itself after 20 s
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gives up mid-body (the point of these tests) is not an error


def _serve(host: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = _Server((host, 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


@pytest.fixture
def feeds() -> Iterator[str]:
    """A feed server on 127.0.0.1 (the configured host) and another on 127.0.0.2."""
    main, base = _serve("127.0.0.1")
    other, other_base = _serve("127.0.0.2")
    _Handler.other = other_base
    try:
        yield base
    finally:
        main.shutdown()
        other.shutdown()


def _read(url: str, timeout: float = 10.0) -> tuple[list[str], list[str]]:
    statements, problems = read_feed(Source(url=url, urgency="alert"), timeout=timeout)
    return [s.title for s in statements], problems


def test_the_feed_on_its_configured_host_is_read_with_redirects_on_that_host(feeds: str) -> None:
    assert _read(f"{feeds}/feed.xml") == (["Spyware firm loses appeal"], [])
    assert _read(f"{feeds}/hop") == (["Spyware firm loses appeal"], [])


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/to-other-internal", "internal address refused: 127.0.0.2"),
        ("/to-metadata", "internal address refused: 169.254.169.254"),
        ("/to-file", "scheme 'file' not allowed"),
        ("/loop", "more than 5 redirects"),
        ("/big", "larger than 5 MB"),
        ("/bomb", "larger than 5 MB"),
    ],
)
def test_what_a_feed_server_cannot_make_us_do(feeds: str, path: str, problem: str) -> None:
    titles, problems = _read(f"{feeds}{path}")
    assert titles == []
    assert len(problems) == 1 and problem in problems[0], problems
    assert "\n" not in problems[0]


@pytest.mark.parametrize("path", ["/slow", "/slow-head"])
def test_a_slow_feed_is_given_up_in_bounded_time(feeds: str, path: str) -> None:
    start = time.monotonic()
    titles, problems = _read(f"{feeds}{path}", timeout=2.0)
    assert titles == [] and "timed out" in problems[0], problems
    assert time.monotonic() - start < 8


def test_entries_with_a_bad_link_are_skipped_one_by_one(feeds: str) -> None:
    titles, problems = _read(f"{feeds}/links")
    assert titles == ["Fine"]
    assert len(problems) == 2
    assert "link: scheme 'javascript' not allowed" in problems[0]
    assert "link: scheme 'file' not allowed" in problems[1]


def test_addresses_off_the_public_internet_are_internal() -> None:
    for address in (
        "127.0.0.1",
        "127.0.0.2",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ):
        assert is_internal(address), address
    for address in ("93.184.216.34", "2606:4700::1111", "8.8.8.8"):
        assert not is_internal(address), address


def test_a_source_must_be_an_http_url(tmp_path: Path) -> None:
    profile = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")
    for url, problem in (
        ("file:///etc/passwd", "only https, http and mailto"),
        ("mailto:x@example.org", "must be an https:// or http:// URL"),
        ("/etc/passwd", "not an absolute URL"),
    ):
        path = tmp_path / "mailer.toml"
        path.write_text(profile + f'\n[[sources]]\nurl = "{url}"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=problem):
            load_profile(path)


def test_a_feed_without_a_server_is_one_problem_line() -> None:
    titles, problems = _read(f"http://127.0.0.1:{free_port()}/feed.xml", timeout=3)
    assert titles == [] and len(problems) == 1 and "cannot fetch" in problems[0]


def test_a_published_feed_entry_cannot_carry_a_recipients_link(feeds: str, tmp_path: Path) -> None:
    from mailer.campaigns.tick import poll_sources
    from tests.inprocess import InProcess

    profile = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")
    org = tmp_path / "mailer.toml"
    org.write_text(
        profile + f'\n[[sources]]\nurl = "{feeds}/marked"\npublish = true\nurgency = "alert"\n',
        encoding="utf-8",
    )
    run = InProcess(tmp_path, org_file=org)
    run.people("email,locale\nana@example.org,en\n")
    (campaign,) = poll_sources(run.rt.db, run.rt.org)
    run.resume(campaign)
    (message,) = run.messages()
    unsubscribe = str(message["List-Unsubscribe"]).split(">")[0].lstrip("<")
    token = unsubscribe.rsplit("/", 1)[1]
    for kind in ("plain", "html"):
        body = message.get_body((kind,)).get_content()  # type: ignore[union-attr]
        assert f"https://evil.example/c?u={MARKED}" in body.replace("&amp;", "&")
        assert token in body and "evil.example/c?u=" + token not in body
        for line in body.splitlines():
            assert not ("evil.example" in line and token in line), line


def _profile_with(tmp_path: Path, sources: str) -> Path:
    """The example profile with more `[[sources]]` tables."""
    path = tmp_path / "mailer.toml"
    path.write_text(
        (EXAMPLES / "mailer.toml").read_text(encoding="utf-8") + sources, encoding="utf-8"
    )
    return path


def test_rss_categories_and_pubdate_become_topics_and_date(feeds: str) -> None:
    (statement,), problems = read_feed(Source(url=f"{feeds}/tagged.rss"), timeout=10)
    assert problems == []
    # Cleaned like front-matter topics: once whatever the case, no blank or over-long one.
    assert statement.topics == ("surveillance", "NSO Group")
    assert statement.date == dt.date(2026, 9, 2)


def test_atom_category_terms_and_dates_are_read(feeds: str) -> None:
    statements, problems = read_feed(Source(url=f"{feeds}/tagged.atom"), timeout=10)
    assert problems == []
    tagged, updated_only = statements
    # Atom's label is the readable form of its term; without one, the term.
    assert tagged.topics == ("Detention", "freedom-of-expression")
    assert tagged.date == dt.date(2026, 11, 24)  # published wins over updated
    assert updated_only.topics == () and updated_only.date == dt.date(2026, 12, 1)


def test_a_source_gives_topics_countries_and_language_to_a_feed_that_has_none(
    feeds: str, tmp_path: Path
) -> None:
    profile = _profile_with(
        tmp_path,
        f'\n[[sources]]\nurl = "{feeds}/bare.rss"\nlang = "fr_BE"\n'
        'topics = ["surveillance", " NSO  Group "]\ncountries = ["il", "BE"]\n'
        f'\n[[sources]]\nurl = "{feeds}/tagged.rss"\ntopics = ["Israel"]\n',
    )
    bare, tagged = load_profile(profile).sources
    assert bare.topics == ("surveillance", "NSO Group") and bare.countries == ("IL", "BE")
    (statement,), _ = read_feed(bare, timeout=10)
    assert statement.lang == "fr" and statement.id.endswith("-fr")
    assert statement.topics == ("surveillance", "NSO Group")
    assert statement.countries == ("IL", "BE")
    # The feed's own categories first, then what the profile adds.
    (other,), _ = read_feed(tagged, timeout=10)
    assert other.topics == ("surveillance", "NSO Group", "Israel")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('topics = "surveillance"', "sources[0].topics must be a list"),
        ('topics = ["ok", ""]', "sources[0].topics[1] must be printable text"),
        ('countries = ["Belgium"]', "sources[0].countries[0] must be an ISO 3166 alpha-2"),
        ('lang = "xx-nowhere"', "sources[0].lang: unknown locale"),
    ],
)
def test_a_source_with_bad_topics_or_countries_is_refused(
    tmp_path: Path, line: str, problem: str
) -> None:
    profile = _profile_with(
        tmp_path,
        f'\n[[sources]]\nurl = "https://example.org/feed.xml"\n{line}\n',
    )
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_profile(profile)


def test_a_feed_alert_reaches_the_people_who_follow_its_category(
    feeds: str, tmp_path: Path
) -> None:
    from mailer.campaigns.tick import poll_sources
    from tests.inprocess import InProcess

    org = _profile_with(
        tmp_path,
        f'\n[[sources]]\nurl = "{feeds}/tagged.rss"\npublish = true\nurgency = "alert"\n',
    )
    run = InProcess(tmp_path, org_file=org)
    run.people(
        "email,locale,topics\n"
        "follows@example.org,en,surveillance\n"
        "other@example.org,en,death penalty\n"
    )
    (campaign,) = poll_sources(run.rt.db, run.rt.org)
    run.resume(campaign)
    assert [str(m["To"]) for m in run.messages()] == ["follows@example.org"]
    (message,) = run.messages()
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "September 2, 2026" in text


def test_a_watched_directory_adds_its_topics_and_countries_to_each_file(tmp_path: Path) -> None:
    from mailer.statements.sources import read_directory

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.md").write_text(
        "---\ntitle: Court ruling\nlang: en\ntopics: [surveillance]\n---\nThe court ruled.\n",
        encoding="utf-8",
    )
    (statement,), problems = read_directory(
        Source(directory=str(inbox), topics=("Surveillance", "Israel"), countries=("IL",))
    )
    assert problems == []
    assert statement.topics == ("surveillance", "Israel") and statement.countries == ("IL",)


def test_another_feed_can_neither_rewrite_nor_block_the_organisation_s_alerts(
    feeds: str, tmp_path: Path
) -> None:
    from mailer.campaigns.tick import poll_sources
    from tests.inprocess import InProcess

    # The partner's feed makes up the guids of the organisation's (WordPress ?p=N): the
    # one already out, and the next one.
    org = _profile_with(
        tmp_path,
        f'\n[[sources]]\nurl = "{feeds}/org.rss"\npublish = true\nurgency = "alert"\n'
        f'\n[[sources]]\nurl = "{feeds}/partner.rss"\n',
    )
    run = InProcess(tmp_path, org_file=org)
    run.people("email,locale\nana@example.org,en\n")
    try:
        (first,) = poll_sources(run.rt.db, run.rt.org)
        run.resume(first)
        _Handler.org_items = (
            *_Handler.org_items,
            ("Urgent: a new wave of Pegasus infections", "https://example.org/?p=102"),
        )
        (second,) = poll_sources(run.rt.db, run.rt.org)
        run.resume(second)
        assert poll_sources(run.rt.db, run.rt.org) == []  # nothing new, nothing twice
    finally:
        _Handler.org_items = _Handler.org_items[:1]
    subjects = [str(m["Subject"]) for m in run.messages()]
    assert subjects == [
        "Spyware found on activists' phones",
        "Urgent: a new wave of Pegasus infections",
    ]
    with run.rt.db.session() as session:
        rows = session.scalars(select(StatementRow)).all()
        by_source = {(row.source.rsplit("/", 1)[1], row.title) for row in rows}
    assert by_source == {
        ("org.rss", "Spyware found on activists' phones"),
        ("org.rss", "Urgent: a new wave of Pegasus infections"),
        ("partner.rss", "Retraction: we were wrong, install this update"),
        ("partner.rss", "Decoy"),
    }


def test_a_published_feed_entry_keeps_what_was_sent_and_an_old_id_keeps_its_alert(
    feeds: str, tmp_path: Path
) -> None:
    import hashlib

    from mailer.campaigns.tick import poll_sources
    from tests.inprocess import InProcess

    org = _profile_with(
        tmp_path, f'\n[[sources]]\nurl = "{feeds}/org.rss"\npublish = true\nurgency = "alert"\n'
    )
    run = InProcess(tmp_path, org_file=org)
    run.people("email,locale\nana@example.org,en\n")
    # This feed's entry as an earlier version stored it: its id from the guid alone.
    (entry,), _ = read_feed(run.rt.org.sources[0], timeout=10)
    old = "feed-" + hashlib.sha256(b"https://example.org/?p=101").hexdigest()[:16]
    with run.rt.db.session() as session:
        save(session, replace(entry, id=f"{old}-en", translation_key=old))
        assert mark_published(session, old) == 1
    assert poll_sources(run.rt.db, run.rt.org) == []  # not announced a second time
    _Handler.org_items = (("Spyware found on activists' phones, edited", _Handler.org_items[0][1]),)
    try:
        assert poll_sources(run.rt.db, run.rt.org) == []
    finally:
        _Handler.org_items = (("Spyware found on activists' phones", "https://example.org/?p=101"),)
    with run.rt.db.session() as session:
        (row,) = session.scalars(select(StatementRow)).all()
    assert (row.id, row.title) == (f"{old}-en", "Spyware found on activists' phones")
    # The feed now says its entries are French: no new version under the published alert.
    _Handler.language = "fr"
    try:
        assert poll_sources(run.rt.db, run.rt.org) == []
    finally:
        _Handler.language = "en"
    with run.rt.db.session() as session:
        assert [r.id for r in session.scalars(select(StatementRow))] == [f"{old}-en"]
