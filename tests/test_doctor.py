"""`mailer doctor` says what is wrong where it is wrong, checks nothing in a refused value's place, and changes nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mailer.alignment import aligned, organizational_domain
from tests.conftest import EXAMPLES, Workdir

SPANISH = (
    "---\ntranslation_key: nso\nlang: es\ntitle: Título\n---\nEl tribunal rechazó la demanda.\n"
)


def _lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """check name -> its whole line (each check has one)."""
    out = {}
    for line in result.stdout.splitlines():
        name = line[5:].split(":", 1)[0]
        out.setdefault(name, line)
    return out


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in path.rglob("*")
        if p.is_file()
    }


def test_doctor_creates_nothing_on_a_new_installation(bare_workdir: Workdir) -> None:
    result = bare_workdir.run("doctor", check=False)
    assert list(bare_workdir.path.iterdir()) == []  # no mailer.db, no .mailer/secret_key, no outbox
    lines = _lines(result)
    assert result.returncode == 1
    assert lines["database"].startswith("FAIL") and "mailer.db does not exist" in lines["database"]
    assert "mailer init" in lines["database"]
    assert lines["secret key"].startswith("warn") and "none yet" in lines["secret key"]
    assert lines["statements"].startswith("skip")


def test_doctor_changes_nothing_in_a_database_it_reads(workdir: Workdir) -> None:
    workdir.run("init")
    workdir.run("statements", "import", str(EXAMPLES / "statements"))
    before = _tree(workdir.path)
    assert not (workdir.path / "mailer.db-wal").exists()
    result = workdir.run("doctor")
    assert _lines(result)["database"].startswith("ok") and "schema" in result.stdout
    assert _lines(result)["statements"].startswith("ok   statements: 5 stored")
    assert _tree(workdir.path) == before  # not even -wal or -shm files


def test_a_broken_profile_is_its_own_line_not_a_crash(workdir: Workdir) -> None:
    profile = workdir.path / "mailer.toml"
    profile.write_text(
        (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")
        + '\n[[sources]]\nurl = "ftp://example.org/feed"\n',
        encoding="utf-8",
    )
    workdir.env["MAILER_ORG_FILE"] = str(profile)
    result = workdir.run("doctor", check=False)
    lines = _lines(result)
    assert result.returncode == 1 and "crashed" not in result.stdout
    assert lines["profile"].startswith("FAIL") and "sources[0].url" in lines["profile"]
    assert lines["catalogs"].startswith("skip") and lines["statements"].startswith("skip")


def test_a_refused_variable_is_not_replaced_by_its_default_and_called_ok(
    workdir: Workdir, tmp_path: Path
) -> None:
    workdir.run("init")
    workdir.env.update(
        {
            "MAILER_TRANSPORT_URL": "smtp//relay.example.org",
            "MAILER_DKIM_SELECTOR": "s1",
            "MAILER_DKIM_DOMAIN": "example.org",
            "MAILER_DKIM_KEY_FILE": str(tmp_path / "missing.pem"),
        }
    )
    result = workdir.run("doctor", check=False)
    lines = _lines(result)
    assert result.returncode == 1
    assert lines["transport"] == (
        "skip transport: not checked: MAILER_TRANSPORT_URL is wrong (above)"
    )
    assert lines["dkim"].startswith("skip dkim: not checked: MAILER_DKIM_KEY_FILE")
    assert "not configured" not in result.stdout and "outbox" not in result.stdout
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any("MAILER_TRANSPORT_URL" in f for f in fails)
    assert any("MAILER_DKIM_KEY_FILE" in f for f in fails)


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True
    )
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize(
    ("domain", "verdict"),
    [("example.org", "ok"), ("mail.example.org", "ok"), ("example.net", "FAIL")],
)
def test_the_dkim_domain_must_align_with_the_from_domain(
    workdir: Workdir, dkim_key: Path, domain: str, verdict: str
) -> None:
    workdir.run("init")
    workdir.env.update(
        {
            "MAILER_DKIM_SELECTOR": "s1",
            "MAILER_DKIM_DOMAIN": domain,
            "MAILER_DKIM_KEY_FILE": str(dkim_key),
        }
    )
    line = _lines(workdir.run("doctor", check=False))["dkim"]
    assert line.startswith(verdict), line
    if verdict == "FAIL":  # the example profile sends From alerts@example.org
        assert "does not align with the From domain example.org" in line
        assert "DMARC" in line


def test_organizational_domains_follow_the_public_suffix_list() -> None:
    assert organizational_domain("mail.example.co.uk") == "example.co.uk"
    assert organizational_domain("News.Example.ORG.") == "example.org"
    assert aligned("mail.amnesty.be", "amnesty.be")
    assert not aligned("example.co.uk", "other.co.uk")  # co.uk is a public suffix
    assert aligned("bücher.de", "xn--bcher-kva.de")


def test_statements_in_a_language_that_cannot_be_sent_are_listed(workdir: Workdir) -> None:
    workdir.run("init")
    workdir.run("statements", "import", str(EXAMPLES / "statements"))
    spanish = workdir.path / "nso.es.md"
    spanish.write_text(SPANISH, encoding="utf-8")
    workdir.run("statements", "import", str(spanish))
    result = workdir.run("doctor")  # a warning: exit 0
    line = _lines(result)["statements"]
    assert line.startswith("warn statements:")
    assert "1 in language es" in line and "nso-es" in line and "no catalog" in line


def test_a_locale_of_the_profile_without_a_catalog_fails(workdir: Workdir) -> None:
    profile = workdir.path / "mailer.toml"
    profile.write_text(
        (EXAMPLES / "mailer.toml")
        .read_text(encoding="utf-8")
        .replace('locales = ["fr", "nl", "de", "en", "ar"]', 'locales = ["fr", "es"]'),
        encoding="utf-8",
    )
    workdir.env["MAILER_ORG_FILE"] = str(profile)
    line = _lines(workdir.run("doctor", check=False))["catalogs"]
    assert line.startswith("FAIL") and "es: no catalog, so no email can be rendered" in line
