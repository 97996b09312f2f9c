"""A segment named but not saved says so; a saved segment that no longer holds stops with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.store.models import Segment
from mailer.subscribers.segment_parse import SegmentError
from mailer.subscribers.segments import resolve_segment, save_segment
from tests.conftest import EXAMPLES, Workdir
from tests.inprocess import InProcess


def test_an_unknown_segment_name_is_not_a_parser_error(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.people("email,locale\nana@example.org,nl\n")
    with run.rt.db.session() as session:
        with pytest.raises(SegmentError) as caught:
            resolve_segment(session, "nosuchsegment")
        assert str(caught.value).startswith("no saved segment named 'nosuchsegment'")
        assert "no segment is saved" in str(caught.value)
        save_segment(session, "dutch", 'locale = "nl"')
        with pytest.raises(SegmentError, match="saved segments: dutch"):
            resolve_segment(session, "duch")
        # A one-word expression is still an expression, and a wrong expression says why.
        assert resolve_segment(session, "alerts") == "alerts"
        assert resolve_segment(session, "dutch") == 'locale = "nl"'
        with pytest.raises(SegmentError, match="unknown field 'lang'"):
            resolve_segment(session, 'lang = "nl"')


def test_a_saved_segment_that_no_longer_holds_stops_with_its_reason(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    with run.rt.db.session() as session:
        # Saved by an older version, or naming what is gone (a campaign, an attribute).
        session.add(Segment(name="old", expression='locale in ("fr" "nl")'))
        session.add(Segment(name="gone", expression="received(7)"))
    with run.rt.db.session() as session:
        with pytest.raises(SegmentError) as caught:
            resolve_segment(session, "old")
        assert str(caught.value).startswith('saved segment \'old\' (locale in ("fr" "nl")) cannot')
        with pytest.raises(SegmentError, match=r"saved segment 'gone' .* no campaign 7"):
            resolve_segment(session, "gone")


def test_send_with_an_unknown_segment_is_one_line(workdir: Workdir) -> None:
    workdir.run("statements", "import", str(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    result = workdir.run("send", "nso-export-licence-en", "--segment", "nosuchsegment", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no saved segment named 'nosuchsegment'")
    assert result.stderr.count("\n") == 1
