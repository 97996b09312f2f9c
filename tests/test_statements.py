"""Statements: the seed press release, Markdown with front matter, HTML, and malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.errors import StatementError
from mailer.statements import parse_file, parse_text
from mailer.statements.blocks import topic_from_tag
from tests.conftest import EXAMPLES, SEED, Workdir


def test_seed_press_release() -> None:
    statement = parse_file(SEED)
    assert (
        statement.title
        == "Israël, Rejet de la demande d’annulation de la licence d’exportation de NSO Group"
    )
    assert statement.lang == "fr"
    assert statement.topics == ("NSO Group",)
    kinds = [b.kind for b in statement.blocks]
    assert kinds == ["paragraph", "quote", "quote", "quote", "heading", "paragraph"]
    assert statement.blocks[4].text == "Complément d’information"
    assert statement.lead.startswith("Le 13 juillet, un tribunal de district de Tel-Aviv")
    body = " ".join(b.text for b in statement.blocks)
    for chrome in ("Toutes les infos", "Toutes les actions", "N° BCE", "Made by Spade"):
        assert chrome not in body
    assert statement.blocks[-1].text.endswith("l’université de New York.")


def test_language_is_detected_when_nothing_declares_it(tmp_path: Path) -> None:
    copy = tmp_path / "communique.txt"
    copy.write_bytes(SEED.read_bytes())
    statement = parse_file(copy)
    assert statement.lang == "fr"
    # Derived from the title and cut between two words: "d’exportation" is one word.
    assert statement.translation_key == "israel-rejet-de-la-demande-d-annulation-de-la-licence"
    assert statement.id == "israel-rejet-de-la-demande-d-annulation-de-la-licence-fr"
    german = tmp_path / "meldung.txt"
    german.write_text(
        "Überwachung stoppen\n\nDie Regierung muss den Export von Spähsoftware sofort stoppen, "
        "fordert die Organisation in einer Erklärung am Montag.\n",
        encoding="utf-8",
    )
    assert parse_file(german).lang == "de"


@pytest.mark.parametrize(
    ("text", "limit", "slug"),
    [
        ("Tel-Aviv : l’entreprise NSO perd son appel", 30, "tel-aviv-l-entreprise-nso-perd"),
        ("Überwachung stoppen, jetzt", 60, "uberwachung-stoppen-jetzt"),
        ("a-key-already-slugified-and-far-too-long", 20, "a-key-already"),
        ("Unbreakablewordthatislongerthanthelimit", 10, "unbreakabl"),
        ("« »", 60, "statement"),
    ],
)
def test_slugs_are_cut_between_words(text: str, limit: int, slug: str) -> None:
    from mailer.statements.model import slugify

    assert slugify(text, limit=limit) == slug


def test_translations_share_one_key() -> None:
    statements = [parse_file(p) for p in sorted((EXAMPLES / "statements").iterdir())]
    assert {s.lang for s in statements} == {"fr", "nl", "de", "en", "ar"}
    assert {s.translation_key for s in statements} == {"nso-export-licence"}
    for statement in statements:
        if statement.lang != "fr":
            assert [c.kind for c in statement.cta] == ["petition", "donate", "share"]
            assert [b.kind for b in statement.blocks].count("quote") == 3


def test_topic_tag_casing() -> None:
    assert topic_from_tag("NSO GROUP") == "NSO Group"
    assert topic_from_tag("DROITS DES FEMMES") == "Droits des Femmes"
    assert topic_from_tag("UN") == "UN"


def test_html_press_release_drops_navigation_and_footer() -> None:
    page = """<html><head><title>Site</title></head><body>
      <nav><a href="/">Accueil</a></nav>
      <article><h1>Stop aux logiciels espions</h1>
      <p>SURVEILLANCE</p>
      <p>Les autorités doivent cesser d’autoriser l’exportation de logiciels espions vers des pays qui répriment.</p>
      <blockquote><p>« Nous demandons des comptes », a déclaré la directrice.</p></blockquote>
      <h2>Contexte</h2><p>Une enquête a révélé l’usage de Pegasus contre des journalistes en Europe.</p>
      <p>Toutes les actions</p></article>
      <footer>© 2024 Exemple - Mentions légales</footer></body></html>"""
    statement = parse_text(page, fmt="html", source="page.html")
    assert statement.title == "Stop aux logiciels espions"
    assert statement.topics == ("Surveillance",)
    assert [b.kind for b in statement.blocks] == ["paragraph", "quote", "heading", "paragraph"]
    assert statement.lang == "fr"


def test_markdown_keeps_inline_markup_safe() -> None:
    text = "---\ntitle: T\nlang: en\n---\nSome **bold** and <script>alert(1)</script> [link](https://example.org).\n"
    statement = parse_text(text, fmt="markdown", source="x.md")
    block = statement.blocks[0]
    assert "<strong>bold</strong>" in block.html
    assert "<script>" not in block.html and "&lt;script&gt;" in block.html
    assert block.text.startswith("Some bold and")


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("no-title.md", "---\nlang: fr\n---\nUn paragraphe.\n", "title: missing"),
        ("broken.md", "---\ntitle: [unclosed\nlang: fr\n---\nTexte.\n", "broken front matter"),
        (
            "unknown-lang.md",
            "---\ntitle: Titre\nlang: xx\n---\nTexte.\n",
            "unknown language code 'xx'",
        ),
        ("empty-body.md", "---\ntitle: Titre\nlang: fr\n---\n\n", "empty body"),
        ("empty.txt", "\n\n", "no title"),
    ],
)
def test_malformed_files_raise_one_clear_error(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(StatementError) as caught:
        parse_file(path)
    message = str(caught.value)
    assert str(path) in message and problem in message
    assert "\n" not in message


def test_import_reports_bad_files_and_keeps_the_good_ones(workdir: Workdir) -> None:
    bad = workdir.path / "bad"
    bad.mkdir()
    (bad / "no-title.md").write_text("---\nlang: fr\n---\nTexte.\n", encoding="utf-8")
    (bad / "broken.md").write_text("---\ntitle: 'x\n---\nTexte.\n", encoding="utf-8")
    (bad / "lang.md").write_text("---\ntitle: T\nlang: zz\n---\nText.\n", encoding="utf-8")
    (bad / "empty.md").write_text("---\ntitle: T\nlang: en\n---\n", encoding="utf-8")
    result = workdir.run(
        "statements", "import", str(bad), str(EXAMPLES / "statements"), check=False
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4
    for name in ("no-title.md", "broken.md", "lang.md", "empty.md"):
        assert any(name in line for line in errors)
    assert result.stdout.split() == [
        "nso-export-licence-ar",
        "nso-export-licence-de",
        "nso-export-licence-en",
        "nso-export-licence-fr",
        "nso-export-licence-nl",
    ]
    listed = json.loads(workdir.run("statements", "list", "--json").stdout)
    assert {s["id"] for s in listed} == set(result.stdout.split())
    assert all({"id", "lang", "title", "translation_key"} <= s.keys() for s in listed)
