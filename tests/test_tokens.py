"""Link tokens: opaque (no id, no order), strict (one spelling), bound to purpose and installation."""

from __future__ import annotations

import base64
import itertools
import string
import time
from pathlib import Path

import pytest
from itsdangerous import Signer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from mailer.tokens import PURPOSES, TokenSigner

KEY = "a-test-secret-key-of-forty-characters-01"
ALPHABET = string.ascii_letters + string.digits + "-_"


def _spellings(token: str) -> set[str]:
    """Other spellings a lenient decoder might take for the same token."""
    out = {
        token + "=",
        token + "==",
        token + ".",
        " " + token,
        token + "\n",
        token.replace("-", "+").replace("_", "/"),
        token.swapcase(),
    }
    for index, char in enumerate(token):
        for other in ALPHABET:
            if other != char:
                out.add(token[:index] + other + token[index + 1 :])
    out.discard(token)
    return out


def test_tokens_show_no_id_and_no_order() -> None:
    signer = TokenSigner(KEY, installation="inst-a")
    tokens = [signer.sign(subscriber_id, "unsubscribe") for subscriber_id in range(1, 301)]
    assert len(set(tokens)) == 300 and all(len(t) == 32 for t in tokens)
    for subscriber_id, token in zip(range(1, 301), tokens, strict=True):
        raw = base64.urlsafe_b64decode(token)
        # Neither the id's base64 (the earlier form) nor the integer is in the token.
        assert base64_encode(str(subscriber_id).encode()).decode() not in token
        assert subscriber_id.to_bytes(8, "big") not in raw
        assert signer.verify(token, "unsubscribe") == subscriber_id
    # Consecutive ids give unrelated tokens: sorting the tokens does not sort the ids.
    assert sorted(tokens) != tokens
    shared = [
        sum(
            1 for _ in itertools.takewhile(lambda pair: pair[0] == pair[1], zip(a, b, strict=False))
        )
        for a, b in itertools.pairwise(tokens)
    ]
    assert sum(shared) / len(shared) < 1.0


def test_every_other_spelling_of_a_token_is_refused() -> None:
    signer = TokenSigner(KEY, installation="inst-a")
    for purpose in PURPOSES:
        token = signer.sign(4242, purpose)
        assert signer.verify(token, purpose) == 4242
        for variant in _spellings(token):
            assert signer.verify(variant, purpose) is None, (purpose, variant)


def test_tokens_are_bound_to_their_purpose_and_installation() -> None:
    here = TokenSigner(KEY, installation="inst-a")
    elsewhere = TokenSigner(KEY, installation="inst-b")
    for purpose in PURPOSES:
        token = here.sign(7, purpose)
        assert all(here.verify(token, p) is None for p in PURPOSES if p != purpose)
        assert elsewhere.verify(token, purpose) is None
    assert TokenSigner(KEY, installation="inst-a").verify(here.sign(7, "view"), "view") == 7


def test_links_in_mail_already_sent_still_work_in_their_one_spelling() -> None:
    # The earlier tokens were itsdangerous Signer tokens of base64(id): made here by
    # itsdangerous itself, as the earlier code made them.
    signer = TokenSigner(KEY, installation="inst-a")
    for purpose in PURPOSES:
        reference = Signer(KEY, salt=f"mailer.{purpose}")
        for subscriber_id in (1, 42, 987654321):
            old = reference.sign(base64_encode(str(subscriber_id).encode())).decode()
            assert signer.verify(old, purpose) == subscriber_id
            assert all(signer.verify(old, p) is None for p in PURPOSES if p != purpose)
            payload, _, signature = old.partition(".")
            # itsdangerous accepts these (lenient base64: padding, spare bits); we do not.
            lenient = {
                f"{payload}=.{signature}",
                f"{payload}.{signature}=",
                f"{payload}.{signature[:-1]}{ALPHABET[(ALPHABET.index(signature[-1]) ^ 1)]}",
                f"{payload}.{signature[:-1]}{ALPHABET[(ALPHABET.index(signature[-1]) ^ 2)]}",
            }
            accepted_by_itsdangerous = {v for v in lenient if _itsdangerous_accepts(reference, v)}
            assert accepted_by_itsdangerous, "the test must hold spellings itsdangerous takes"
            for variant in lenient | _spellings(old):
                assert signer.verify(variant, purpose) is None, variant
    # A payload that names the id another way ("007", "+7") is no token of ours.
    reference = Signer(KEY, salt="mailer.unsubscribe")
    for other in ("007", "+7", " 7", "7 "):
        forged = reference.sign(base64_encode(other.encode())).decode()
        assert signer.verify(forged, "unsubscribe") is None


def _itsdangerous_accepts(reference: Signer, token: str) -> bool:
    try:
        reference.unsign(token)
    except Exception:
        return False
    return True


def test_confirmation_and_form_tokens_expire_and_are_strict() -> None:
    signer = TokenSigner(KEY, installation="inst-a")
    token = signer.sign_expiring(31)
    assert len(token) == 40 and signer.verify_expiring(token, 60) == 31
    assert signer.verify(token, "confirm") is None
    for variant in list(_spellings(token))[:400]:
        assert signer.verify_expiring(variant, 60) is None
    assert TokenSigner(KEY, installation="inst-b").verify_expiring(token, 60) is None
    csrf = signer.sign_csrf(31)
    assert signer.verify_csrf(csrf, 31, 60) and not signer.verify_csrf(csrf, 32, 60)
    assert signer.verify_expiring(csrf, 60) is None  # a form token confirms nobody
    # Pending confirmations sent by the earlier code: accepted until they expire.
    old = URLSafeTimedSerializer(KEY, salt="mailer.confirm.timed").dumps(31)
    assert signer.verify_expiring(old, 60) == 31
    assert signer.verify_expiring(old + "=", 60) is None
    assert signer.verify_expiring(old, -1) is None
    time.sleep(1.1)
    assert signer.verify_expiring(token, 0) is None and signer.verify_expiring(old, 0) is None


@pytest.mark.parametrize("key", ["", " " * 40, "short", "x" * 15, "ab" * 40])
def test_an_empty_short_or_plain_key_signs_nothing(key: str) -> None:
    with pytest.raises(ValueError, match="secret key"):
        TokenSigner(key)


def test_signing_stays_fast() -> None:
    # Three tokens per email: a few microseconds each (the throughput benchmark counts on it).
    signer = TokenSigner(KEY, installation="inst-a")
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for subscriber_id in range(1, 5001):
            signer.sign(subscriber_id, "unsubscribe")
        best = min(best, (time.perf_counter() - started) / 5000)
    assert best < 20e-6, f"{best * 1e6:.1f} µs per token"


def test_message_ids_differ_between_installations_with_one_key(tmp_path: Path) -> None:
    from mailer.campaigns.links import make_message_id
    from mailer.config import load_settings
    from mailer.runtime import build_runtime
    from mailer.transport.memory import MemoryTransport

    def runtime(name: str):  # type: ignore[no-untyped-def]
        settings = load_settings(
            {
                "MAILER_DATABASE_URL": f"sqlite:///{tmp_path}/{name}.db",
                "MAILER_SECRET_KEY": KEY,
                "MAILER_DATA_DIR": str(tmp_path / "data"),
            }
        )
        return build_runtime(settings, transport=MemoryTransport())

    first = [runtime(f"db{n}") for n in range(4)]
    ids = {make_message_id(rt.signer, rt.org, 1, 1) for rt in first}
    tokens = {rt.signer.sign(1, "unsubscribe") for rt in first}
    assert len(ids) == 4 and len(tokens) == 4
    # Within one installation they are stable: a second process on db0 makes the same.
    again = runtime("db0")
    assert make_message_id(again.signer, again.org, 1, 1) == make_message_id(
        first[0].signer, first[0].org, 1, 1
    )
    assert again.signer.verify(first[0].signer.sign(1, "view"), "view") == 1
    for rt in [*first, again]:
        rt.close()
