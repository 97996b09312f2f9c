"""What the CLI prints is shown, never obeyed; what the profile holds never starts a header."""

from __future__ import annotations

import json
import sqlite3
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailer.cli.terminal import json_safe, one_line, terminal_safe
from mailer.compose import Recipient
from mailer.errors import ConfigError
from mailer.org import load_profile
from mailer.render.variant import render_email
from mailer.statements import parse_text
from tests.conftest import EXAMPLES, Workdir
from tests.messages import compose

HOSTILE = "Ana \x1b]0;owned\x07\x1b[2J\r\x00\x9b31m\u202eabc\u2028 [link=https://evil.example]x[/link] :smile:"
RAW = ("\x1b", "\x07", "\x00", "\r", "\x9b", "\u202e", "\u2028")


def test_terminal_safe_shows_every_control_character() -> None:
    shown = terminal_safe(HOSTILE)
    assert not any(char in shown for char in RAW)
    assert "\\x1b]0;owned\\x07" in shown and "\\u202e" in shown and "\\x9b" in shown
    assert one_line("a\nb\tc") == "a\\x0ab\\x09c"
    assert json.loads(json_safe(json.dumps(HOSTILE, ensure_ascii=False))) == HOSTILE


def _db(workdir: Workdir) -> sqlite3.Connection:
    workdir.run("init")
    return sqlite3.connect(workdir.path / "mailer.db")


def test_lists_and_shows_print_data_not_commands(workdir: Workdir) -> None:
    workdir.run("statements", "import", str(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    workdir.run("subscribers", "add", "ana@example.org", "--consented")
    with _db(workdir) as connection:  # as a database of before, or another writer, holds them
        connection.execute("UPDATE statements SET title = ?", (HOSTILE,))
        connection.execute("UPDATE subscribers SET name = ?", (HOSTILE,))
    outputs = [
        workdir.run("statements", "list").stdout,
        workdir.run("statements", "show", "nso-export-licence-en").stdout,
        workdir.run("subscribers", "list").stdout,
        workdir.run("subscribers", "show", "ana@example.org").stdout,
    ]
    for output in outputs:
        assert not any(char in output for char in RAW), repr(output[:300])
        assert "[link=https://evil.example]" in output.replace("\n", "") or "\\x1b" in output
    assert "\\x1b]0;owned" in outputs[1] and "[link=https://evil.example]x[/link]" in outputs[1]
    assert ":smile:" in outputs[3]
    listed = workdir.run("statements", "list", "--json").stdout
    assert not any(char in listed for char in RAW)
    assert json.loads(listed)[0]["title"] == HOSTILE  # exact JSON, the same value
    shown = workdir.run("subscribers", "show", "ana@example.org", "--json").stdout
    assert json.loads(shown)["name"] == HOSTILE


def test_error_lines_quoting_a_file_name_stay_one_safe_line(workdir: Workdir) -> None:
    bad = workdir.path / "evil\x1b[31m\rname.md"
    bad.write_text("---\nlang: en\n---\nNo title.\n", encoding="utf-8")
    result = workdir.run("statements", "import", str(bad), check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "evil\\x1b[31m\\x0dname.md" in errors[0]
    assert "\x1b" not in result.stderr and "\r" not in result.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", "Org\\r\\nBcc: victim@example.net"),
        ("address", "Street 1\\nBcc: victim@example.net"),
        ("list_id", "alerts.example.org\\u2028x"),
    ],
)
def test_a_control_character_in_the_profile_is_a_config_error(
    workdir: Workdir, key: str, value: str
) -> None:
    profile = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")
    lines = [line for line in profile.splitlines() if not line.startswith(f"{key} = ")]
    text = "\n".join(lines).replace("[organisation]", f'[organisation]\n{key} = "{value}"', 1)
    path = workdir.path / "mailer.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"organisation.{key}: control character"):
        load_profile(path)
    workdir.env["MAILER_ORG_FILE"] = str(path)
    result = workdir.run("campaigns", "list", check=False)  # reads the profile
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_sender_names_per_locale_are_checked_too(tmp_path: Path) -> None:
    profile = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")
    path = tmp_path / "mailer.toml"
    path.write_text(
        profile.replace(
            'sender_name = "Amnesty Belgium"', 'sender_name = "A\\r\\nBcc: x@y.example"'
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"locales\.en\.sender_name: control character U\+000D"):
        load_profile(path)


def test_no_statement_text_can_start_a_header_line() -> None:
    # YAML's \L, \P and \n escapes are line breaks of their own: the title stays one line.
    source = (
        '---\ntitle: "Alert\\LBcc: a@evil.example\\PX-Y: z\\nZ: w"\nlang: en\n---\nBody text.\n'
    )
    statement = parse_text(source, fmt="markdown", source="x.md")
    org = load_profile(EXAMPLES / "mailer.toml")
    variant = render_email("alert", statement, locale="en", org=org)
    raw = compose(variant, Recipient(email="ana@example.net", name="Ana", message_id="<1@x>"))
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    assert not any(line.startswith(("Bcc:", "X-Y:", "Z:")) for line in head.split("\r\n"))
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "Alert Bcc: a@evil.example X-Y: z Z: w"
    assert message["Bcc"] is None
