"""``cda report``: the round's theme report (:mod:`pipeline.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli._util import WorkspaceOpt, app, load_study, out


@app.command("report")
def report_cli(
    workspace: WorkspaceOpt = Path("."),
    round_no: Annotated[int | None, typer.Option("--round", help="Coding round.")] = None,
) -> None:
    """Write reports/round-N/index.html."""
    from pipeline.report import run_report

    ws, config = load_study(workspace)
    report = run_report(ws, config, round_no=round_no)
    # one line, never wrapped: the path is for copying or clicking
    out.print(f"report: {report.path}", soft_wrap=True, highlight=False)
