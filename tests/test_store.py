"""The schema: migrations match the models; subscribers import keeps what is valid."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mailer.store import open_database
from mailer.store.models import Base
from tests.conftest import Workdir


def test_migrations_match_the_models(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/m.db")
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_subscriber_import_reports_bad_rows_and_never_resubscribes(workdir: Workdir) -> None:
    path = workdir.path / "people.csv"
    path.write_text(
        "\ufeffemail;name;locale;country;topics;alerts;lists;status\n"
        ' Ana@Example.ORG ;Ana;fr-be;be;"NSO Group; surveillance";true;press;subscribed\n'
        "not-an-address;X;fr;BE;;true;;\n"
        "bob@example.org;Bob;xx;BE;;true;;\n"
        "carl@example.org;Carl;de;ZZ;;true;;\n"
        "dora@example.org;Dora;nl;NL;;maybe;;\n"
        "eve@example.org;Eve;en;GB;;false;;unsubscribed\n",
        encoding="utf-8",
    )
    result = workdir.run("subscribers", "import", str(path), "--consented", check=False)
    assert result.returncode == 1
    assert "accepted 2 (created 2, updated 0), rejected 4" in result.stdout
    lines = result.stderr.splitlines()
    assert any(":3: email:" in line for line in lines)
    assert any(":4: locale:" in line and "'xx'" in line for line in lines)
    assert any(":5: country:" in line for line in lines)
    assert any(":6: alerts:" in line for line in lines)
    rejected = (workdir.path / "people.rejected.csv").read_text(encoding="utf-8")
    assert rejected.count("\n") == 5
    ana = json.loads(workdir.run("subscribers", "show", "ana@example.org", "--json").stdout)
    assert ana["email"] == "Ana@example.org"
    assert (ana["locale"], ana["country"], ana["topics"], ana["status"]) == (
        "fr_BE",
        "BE",
        ["NSO Group", "surveillance"],
        "subscribed",
    )
    # Re-importing a file that says "subscribed" never brings back someone who left.
    path.write_text("email,status\neve@example.org,subscribed\n", encoding="utf-8")
    workdir.run("subscribers", "import", str(path), "--consented")
    eve = json.loads(workdir.run("subscribers", "show", "eve@example.org", "--json").stdout)
    assert eve["status"] == "unsubscribed"
    listed = json.loads(workdir.run("subscribers", "list", "--json").stdout)
    assert [s["email"] for s in listed] == ["Ana@example.org", "eve@example.org"]
    assert all(
        {"email", "name", "status", "locale", "country", "topics"} <= s.keys() for s in listed
    )


def test_schema_head_constant_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from mailer.store.db import MIGRATIONS, SCHEMA_HEAD

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD
