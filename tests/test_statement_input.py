"""Bad statement files fail alone, with one line naming file, line and field; the tick goes on."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from mailer.campaigns.tick import tick
from mailer.errors import StatementError
from mailer.statements import parse_file, parse_text
from mailer.store.models import Campaign, StatementRow
from tests.conftest import Workdir
from tests.inprocess import EXAMPLES, InProcess

UTC = dt.UTC
GOOD = "---\ntitle: Good news\nlang: en\nurgency: news\n---\nA good statement arrives.\n"
BAD = {
    "bad-date.md": ("---\ntitle: T\nlang: en\ndate: 2024-13-45\n---\nText.\n", "date: not an ISO"),
    "bad-float.md": ("---\ntitle: T\nlang: en\nx: !!float x\n---\nText.\n", ":4: broken front"),
    "bad-stamp.md": (
        "---\ntitle: T\nlang: en\nx: !!timestamp 2024-13-45\n---\nText.\n",
        ":4: broken front",
    ),
    "deep.md": (
        "---\ntitle: T\nlang: en\nx: " + "[" * 3000 + "]" * 3000 + "\n---\nText.\n",
        "nested more than",
    ),
    "deep-block.md": (
        "---\ntitle: T\nlang: en\nx:\n"
        + "".join("  " * i + "- \n" for i in range(200))
        + "---\nT.\n",
        "nested more than",
    ),
    "alias-bomb.md": (
        "---\ntitle: T\nlang: en\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a]\n"
        "c: [*b, *b, *b, *b, *b, *b]\n---\nText.\n",
        "aliases",
    ),
    "big-int.md": ("---\ntitle: T\nlang: en\nx: " + "9" * 6000 + "\n---\nText.\n", "broken front"),
    "binary-title.md": ("---\ntitle: !!binary Zm9v\nlang: en\n---\nText.\n", "title: must be text"),
    "python.md": (
        "---\ntitle: !!python/object/apply:os.system [echo hi]\nlang: en\n---\nText.\n",
        "broken front",
    ),
    "esc-title.md": ('---\ntitle: "Red \\e[31m alert"\nlang: en\n---\nText.\n', "title: control"),
    "nul-body.md": ("---\ntitle: T\nlang: en\n---\nText \x00 here.\n", ":5: control character"),
    "urgent.md": ("---\ntitle: T\nlang: en\nurgent: maybe\n---\nText.\n", "urgent: expected"),
    "long-title.md": ("---\ntitle: " + "x" * 301 + "\nlang: en\n---\nText.\n", "title: longer"),
    "many-topics.md": (
        "---\ntitle: T\nlang: en\ntopics: ["
        + ", ".join(f"t{i}" for i in range(21))
        + "]\n---\nT.\n",
        "topics: more than 20",
    ),
    "long-topic.md": (
        "---\ntitle: T\nlang: en\ntopics: [" + "y" * 101 + "]\n---\nText.\n",
        "topics:",
    ),
    "many-cta.md": (
        "---\ntitle: T\nlang: en\ncta:\n"
        + "".join("  - {kind: donate, url: 'https://example.org'}\n" for _ in range(11))
        + "---\nText.\n",
        "cta: more than 10",
    ),
    "bad-id.md": ("---\ntitle: T\nlang: en\nid: '../../etc'\n---\nText.\n", "id: only letters"),
    "bad-country.md": ("---\ntitle: T\nlang: en\ncountries: [Belgium]\n---\nT.\n", "countries:"),
    "huge.md": ("---\ntitle: T\nlang: en\n---\n" + "word " * 450_000 + "\n", "larger than 2 MB"),
    "long-body.md": (
        "---\ntitle: T\nlang: en\n---\n" + "word " * 41_000 + "\n",
        ":5: body: longer",
    ),
    "long-text.txt": ("Title\n\n" + ("word " * 1000 + "\n\n") * 31, "body: longer than 150,000"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_file_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    content, problem = BAD[name]
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(StatementError) as caught:
        parse_file(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and problem in message, message
    assert "\n" not in message and len(message) < 400


def test_quoted_false_is_false_and_booleans_are_yaml_1_2() -> None:
    def parsed(front: str):  # type: ignore[no-untyped-def]
        return parse_text(
            f"---\ntitle: T\n{front}\n---\nText body.\n", fmt="markdown", source="x.md"
        )

    assert parsed('lang: en\nurgent: "false"').urgent is False
    assert parsed("lang: en\nurgent: no").urgent is False
    assert parsed("lang: en\nurgent: YES").urgent is True
    assert parsed("lang: en\nurgent: 1").urgent is True
    assert parsed("lang: no").lang == "no"  # Norwegian, not False
    assert parsed("lang: en\ndate: 2024-07-13").date == dt.date(2024, 7, 13)


def test_import_reports_every_bad_file_and_imports_the_good_ones(workdir: Workdir) -> None:
    folder = workdir.path / "inbox"
    folder.mkdir()
    for name in ("bad-date.md", "bad-float.md", "deep.md", "nul-body.md"):
        (folder / name).write_text(BAD[name][0], encoding="utf-8")
    good = workdir.path / "good.md"
    good.write_text(GOOD, encoding="utf-8")
    result = workdir.run("statements", "import", str(folder), str(good), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, result.stderr
    assert result.stdout.split() == ["good-news-en"]


def _scheduled(run: InProcess, when: dt.datetime) -> int:
    with run.rt.db.session() as session:
        campaign = Campaign(
            kind="manual",
            statement_id="nso-export-licence-en",
            translation_key="nso-export-licence",
            state="scheduled",
            send_at=when,
            items=[],
            missing="fallback",
        )
        session.add(campaign)
        session.flush()
        return campaign.id


def test_a_bad_file_in_a_watched_directory_never_costs_a_due_campaign(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("bad-date.md", "bad-float.md", "deep.md", "alias-bomb.md"):
        (inbox / name).write_text(BAD[name][0], encoding="utf-8")
    (inbox / "good.md").write_text(GOOD, encoding="utf-8")
    profile = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")
    org = tmp_path / "mailer.toml"
    org.write_text(
        profile.replace(
            'timezone = "Europe/Brussels"\n', 'timezone = "Europe/Brussels"\ndigest = "none"\n'
        )
        + f'\n[[sources]]\ndirectory = "{inbox}"\n',
        encoding="utf-8",
    )
    run = InProcess(tmp_path, org_file=org)
    run.statements("nso-export-licence.en.md")
    run.people("email,locale\nana@example.org,en\n")
    due = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    campaign_id = _scheduled(run, due)
    with caplog.at_level(logging.WARNING, logger="mailer"):
        started = tick(run.rt.db, run.rt.org, now=due + dt.timedelta(seconds=20))
    assert started == [campaign_id]
    problems = [r.getMessage() for r in caplog.records if r.name == "mailer.tick"]
    assert len(problems) == 4 and all("\n" not in p for p in problems)
    for name in ("bad-date.md", "bad-float.md", "deep.md", "alias-bomb.md"):
        assert any(name in p for p in problems), name
    with run.rt.db.session() as session:
        assert session.get(StatementRow, "good-news-en") is not None
    assert run.resume(campaign_id)["sent"] == 1
