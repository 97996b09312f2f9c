"""Audience through the CLI: double opt-in, export round trip, why, unsubscribing mid-campaign."""

from __future__ import annotations

import json
import mailbox
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailer.config import load_settings
from mailer.runtime import build_runtime
from mailer.subscribers.confirm import confirm
from tests.conftest import EXAMPLES, Workdir
from tests.processes import configure_for, wait_for_state, worker_process
from tests.servers import RedisServer, SMTPServer


def _messages(workdir: Workdir) -> list:  # type: ignore[type-arg]
    box = mailbox.Maildir(workdir.path / "outbox", create=False)
    return [message_from_bytes(box.get_bytes(k), policy=policy.default) for k in list(box.keys())]


def test_double_opt_in(workdir: Workdir) -> None:
    people = workdir.path / "signups.csv"
    people.write_text(
        "email,name,locale\nlena@example.org,Lena,de\nluc@example.org,Luc,fr_BE\n", encoding="utf-8"
    )
    result = workdir.run("subscribers", "import", str(people))
    assert "pending until they confirm" in result.stdout
    messages = {str(m["To"]): m for m in _messages(workdir)}
    assert set(messages) == {"Lena <lena@example.org>", "Luc <luc@example.org>"}
    german = messages["Lena <lena@example.org>"]
    assert german["Subject"].startswith("Bitte bestätigen Sie Ihre Anmeldung")
    assert german["List-Unsubscribe"] is None  # a confirmation is not list mail
    text = german.get_body(("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:8000/confirm/(\S+)", text)
    assert link
    listed = {
        s["email"]: s["status"]
        for s in json.loads(workdir.run("subscribers", "list", "--json").stdout)
    }
    assert listed == {"lena@example.org": "pending", "luc@example.org": "pending"}
    # Pending people get no campaign.
    workdir.run("statements", "import", str(EXAMPLES / "statements"))
    workdir.run("send", "nso-export-licence-de")
    why = json.loads(
        workdir.run("subscribers", "why", "lena@example.org", "--campaign", "1", "--json").stdout
    )
    assert why["status"] == "skipped" and "never confirmed" in why["explanation"]
    # The link confirms (the web page of issue 7 calls the same function).
    env = {k: v for k, v in workdir.env.items() if k.startswith("MAILER_")}
    env["MAILER_DATABASE_URL"] = f"sqlite:///{workdir.path}/mailer.db"
    env["MAILER_DATA_DIR"] = str(workdir.path / ".mailer")
    rt = build_runtime(load_settings(env))
    assert confirm(rt, link.group(1) + "x") is None
    confirmed = confirm(rt, link.group(1))
    assert (
        confirmed is not None
        and confirmed.status == "subscribed"
        and confirmed.consent_method == "double-opt-in"
    )


def test_export_round_trips(workdir: Workdir) -> None:
    lines = (EXAMPLES / "subscribers.csv").read_text(encoding="utf-8").splitlines()
    people = workdir.path / "people.csv"
    people.write_text(
        "\n".join(
            [lines[0] + ",signed_nso,=1+1"]
            + [f"{line},{'yes,=SUM(A1)' if i % 3 else ','}" for i, line in enumerate(lines[1:])]
        )
        + "\n",
        encoding="utf-8",
    )
    workdir.run("subscribers", "import", str(people), "--consented")
    first = workdir.path / "first.csv"
    workdir.run("subscribers", "export", str(first))
    before = json.loads(workdir.run("subscribers", "list", "--json").stdout)
    (workdir.path / "mailer.db").unlink()
    workdir.run("subscribers", "import", str(first), "--consented")
    after = json.loads(workdir.run("subscribers", "list", "--json").stdout)
    assert before[1]["attributes"] == {"=1+1": "=SUM(A1)", "signed_nso": "yes"}
    assert [{k: v for k, v in s.items() if k != "created_at"} for s in after] == [
        {k: v for k, v in s.items() if k != "created_at"} for s in before
    ]
    second = workdir.path / "second.csv"
    workdir.run("subscribers", "export", str(second))
    assert second.read_text(encoding="utf-8") == first.read_text(encoding="utf-8")


def test_attributes_show_everywhere(workdir: Workdir) -> None:
    people = workdir.path / "people.csv"
    people.write_text("email,signed_nso,Member Since\nana@example.org,yes,2019\n", encoding="utf-8")
    workdir.run("subscribers", "import", str(people), "--consented")
    shown = json.loads(workdir.run("subscribers", "show", "ana@example.org", "--json").stdout)
    assert shown["attributes"] == {"member since": "2019", "signed_nso": "yes"}
    listed = json.loads(workdir.run("subscribers", "list", "--json").stdout)
    assert listed[0]["attributes"] == shown["attributes"]
    text = workdir.run("subscribers", "show", "ana@example.org").stdout
    assert "attr.signed_nso: yes" in text
    count = workdir.run(
        "segments", "count", 'attr."member since" = 2019 and attr.signed_nso = "yes"'
    )
    assert count.stdout.startswith("1 subscribed")
    bad = workdir.run("segments", "count", 'attr.signed = "yes"', check=False)
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "error: column 1: unknown attribute 'signed'; known attributes: member since, signed_nso"
    )


def test_why_explains_each_decision(workdir: Workdir) -> None:
    workdir.run("statements", "import", str(EXAMPLES / "statements"))
    workdir.run("subscribers", "import", str(EXAMPLES / "subscribers.csv"), "--consented")
    workdir.run("segments", "add", "dutch", 'language = "nl"')
    assert json.loads(workdir.run("segments", "count", "dutch", "--json").stdout)["count"] > 0
    workdir.run("send", "nso-export-licence-fr", "--segment", "dutch")
    status = json.loads(workdir.run("campaigns", "status", "1", "--json").stdout)
    assert set(status["skipped_reasons"]) <= {"not in segment", "unsubscribed", "bounced"}
    people = json.loads(workdir.run("subscribers", "list", "--json").stdout)
    dutch = next(p for p in people if p["locale"] == "nl" and p["status"] == "subscribed")
    french = next(p for p in people if p["locale"] == "fr" and p["status"] == "subscribed")
    sent = workdir.run("subscribers", "why", dutch["email"], "--campaign", "1").stdout
    assert (
        "sent at" in sent
        and "in nl (version nso-export-licence-nl)" in sent
        and "Message-ID <1." in sent
    )
    skipped = workdir.run("subscribers", "why", french["email"], "--campaign", "1").stdout
    assert "not in the campaign's segment" in skipped
    bad = workdir.run("segments", "count", 'lang = "nl"', check=False)
    assert bad.returncode == 1 and "column 1: unknown field 'lang'" in bad.stderr


@pytest.mark.redis
def test_unsubscribing_during_a_campaign_stops_that_email(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    configure_for(workdir, redis_server, smtp_server, db=2)
    # Ten a second: the campaign is still running when the unsubscribe lands (unlimited, the
    # sixty messages would all be in flight at once before the command even starts).
    workdir.env.update({"MAILER_BATCH_SIZE": "10", "MAILER_RATE_LIMIT": "10"})
    people = tmp_path / "people.csv"
    people.write_text(
        "email,locale\n" + "".join(f"p{i:03d}@example.org,en\n" for i in range(60)),
        encoding="utf-8",
    )
    workdir.run("subscribers", "import", str(people), "--consented")
    workdir.run("statements", "import", str(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    smtp_server.handler.delay = 0.05
    with worker_process(workdir, concurrency=1):
        workdir.run("statements", "publish", "nso-export-licence-en", "--no-wait")
        smtp_server.wait_for(5, timeout=60)
        workdir.run("subscribers", "unsubscribe", "p059@example.org")
        status = wait_for_state(workdir, 1, {"done"}, timeout=90)
    received = {r.rcpt_tos[0] for r in smtp_server.handler.received}
    assert "p059@example.org" not in received
    assert len(received) == 59 and status["sent"] == 59
    why = workdir.run("subscribers", "why", "p059@example.org", "--campaign", "1").stdout
    assert "unsubscribed" in why
