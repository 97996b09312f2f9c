"""Options shared by the commands that create a campaign."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["AgainOption", "MissingOption", "SegmentOption"]

MissingOption = Annotated[
    str | None,
    typer.Option(help="Missing translations: 'fallback' or 'wait=DURATION' (e.g. wait=48h)."),
]
SegmentOption = Annotated[
    str | None, typer.Option(help="Segment name or expression (overrides routing).")
]
AgainOption = Annotated[
    bool,
    typer.Option(
        "--again", help="Send to people who already received this statement too (default: skip)."
    ),
]
