"""A follow-up as a user runs it: appeal, action-takers imported, follow-up to who did not act."""

from __future__ import annotations

import json
import mailbox
from email import message_from_bytes, policy

from tests.conftest import EXAMPLES, Workdir
from tests.test_followups import FOLLOW_UP


def _recipients(workdir: Workdir, campaign: int) -> set[str]:
    box = mailbox.Maildir(workdir.path / "outbox", create=False)
    found = set()
    for key in list(box.keys()):
        message = message_from_bytes(box.get_bytes(key), policy=policy.default)
        if message["X-Mailer-Campaign"] == str(campaign):
            found.add(str(message["To"].addresses[0].addr_spec))
    return found


def test_follow_up_to_who_received_the_appeal_and_did_not_sign(workdir: Workdir) -> None:
    people = workdir.path / "people.csv"
    people.write_text(
        "email,name,locale,member\n"
        "ana@example.org,Ana,en,yes\n"
        "bert@example.org,Bert,en,no\n"
        "carl@example.org,Carl,en,\n"
        "dora@example.org,Dora,en,no\n",
        encoding="utf-8",
    )
    workdir.run("subscribers", "import", str(people), "--consented")
    workdir.run("statements", "import", str(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    (workdir.path / "hearing.md").write_text(FOLLOW_UP, encoding="utf-8")
    workdir.run("statements", "import", str(workdir.path / "hearing.md"))
    workdir.run("send", "nso-export-licence-en", "--segment", 'not email = "dora@example.org"')
    assert _recipients(workdir, 1) == {"ana@example.org", "bert@example.org", "carl@example.org"}
    signers = workdir.path / "signers.csv"
    signers.write_text(
        "email,taken_at\nBERT@example.org,2024-07-14\nzed@example.net,2024-07-14\nnope,\n",
        encoding="utf-8",
    )
    imported = workdir.run(
        "actions", "import", str(signers), "--action", "petition-nso", check=False
    )
    assert imported.returncode == 1  # one invalid row: said, and the rest recorded
    assert "matched 1 (newly recorded 1), unknown 1" in imported.stdout
    assert f"{signers}:3: email: not a subscriber" in imported.stderr
    assert f"{signers}:4: email: invalid address" in imported.stderr
    listed = json.loads(workdir.run("actions", "list", "--json").stdout)
    assert [(a["action"], a["people"]) for a in listed] == [("petition-nso", 1)]
    segment = 'received(1) and not took("petition-nso") and not attr.member = "yes"'
    count = json.loads(workdir.run("segments", "count", segment, "--json").stdout)
    assert count["count"] == 1
    workdir.run("send", "nso-hearing-en", "--segment", segment)
    assert _recipients(workdir, 2) == {"carl@example.org"}
    why = workdir.run("subscribers", "why", "bert@example.org", "--campaign", "2").stdout
    assert 'not took("petition-nso") is false for this person' in why
    bad = workdir.run("segments", "add", "huge", " or ".join(["alerts"] * 1200), check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("error: column ")
    assert len(bad.stderr.strip().splitlines()) == 1
