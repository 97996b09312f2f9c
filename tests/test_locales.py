"""Locale codes, fallback chains and the catalogs along them."""

from __future__ import annotations

from mailer.i18n import translations
from mailer.locales import fallback_chain, is_rtl, normalise_locale
from mailer.org import chain_for, load_profile
from tests.conftest import EXAMPLES


def test_normalise_locale() -> None:
    assert normalise_locale("fr-be") == "fr_BE"
    assert normalise_locale(" NL ") == "nl"
    assert normalise_locale("xx") is None
    assert normalise_locale("") is None


def test_fallback_chain_order() -> None:
    assert fallback_chain("fr_BE", default="fr") == ("fr_BE", "fr")
    assert fallback_chain("de", default="fr", explicit=("en",)) == ("de", "en", "fr")
    assert fallback_chain("nl_BE", default="fr", language_fallbacks=("en",)) == (
        "nl_BE",
        "nl",
        "en",
        "fr",
    )
    assert fallback_chain(None, default="fr") == ("fr",)
    assert fallback_chain("zz", default="en") == ("en",)


def test_profile_chains() -> None:
    org = load_profile(EXAMPLES / "mailer.toml")
    assert chain_for(org, "de") == ("de", "fr")
    assert chain_for(org, "nl_BE") == ("nl_BE", "nl", "en", "fr")
    assert chain_for(org, "ar") == ("ar", "en", "fr")
    assert chain_for(org, "pt") == ("pt", "fr")


def test_catalog_chain_translates_and_falls_back() -> None:
    assert translations(("fr_BE", "fr")).gettext("Unsubscribe") == "Se désinscrire"
    assert translations(("pt", "de")).gettext("Donate") == "Spenden"
    assert translations(("pt",)).gettext("Donate") == "Donate"


def test_rtl() -> None:
    assert is_rtl("ar") and is_rtl("he")
    assert not is_rtl("fr_BE")
