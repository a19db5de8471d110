"""``cda export csv|xlsx|qdpx|qdc|srt|vtt``: a round or the subtitles for other tools
(:mod:`pipeline.export`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli._util import (
    RoundOpt,
    WorkspaceOpt,
    XsdOpt,
    export_app,
    load_study,
    open_workspace,
    out,
)


@export_app.command("csv")
def export_csv_cli(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Segments with their human codes and machine suggestions: exports/round-N/segments.csv."""
    from pipeline.export import write_csv

    ws, config = load_study(workspace)
    out.print(f"wrote {ws.display(write_csv(ws, config, round_no))}")


@export_app.command("xlsx")
def export_xlsx_cli(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Segments with codes, all codings and the codebook: exports/round-N/segments.xlsx."""
    from pipeline.export import write_xlsx

    ws, config = load_study(workspace)
    out.print(f"wrote {ws.display(write_xlsx(ws, config, round_no))}")


@export_app.command("qdpx")
def export_qdpx_cli(
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    audio: Annotated[
        bool | None,
        typer.Option(
            "--audio/--no-audio", help="Include the recordings' audio (default: export.audio)."
        ),
    ] = None,
    xsd: XsdOpt = None,
) -> None:
    """The round as a REFI-QDA project (transcripts, codebook, codings, memos) for QDA tools."""
    from pipeline.export.qdpx import write_qdpx

    ws, config = load_study(workspace)
    audio = config.export.audio if audio is None else audio
    path = write_qdpx(ws, config, round_no, audio=audio, xsd=xsd)
    out.print(f"wrote {ws.display(path)}" + (f" (valid against {xsd.name})" if xsd else ""))


@export_app.command("qdc")
def export_qdc_cli(
    workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1, xsd: XsdOpt = None
) -> None:
    """The round's codebook as REFI-QDA codebook exchange (.qdc) for ATLAS.ti, NVivo, MAXQDA."""
    from pipeline.export import write_qdc

    ws, config = load_study(workspace)
    out.print(f"wrote {ws.display(write_qdc(ws, config, round_no, xsd=xsd))}")


@export_app.command("srt")
def export_srt_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Pseudonymised SubRip subtitles per recording: exports/subtitles/<recording>.srt."""
    from pipeline.export import write_subtitles

    ws = open_workspace(workspace)
    for path in write_subtitles(ws, "srt"):
        out.print(f"wrote {ws.display(path)}")


@export_app.command("vtt")
def export_vtt_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Pseudonymised WebVTT subtitles per recording: exports/subtitles/<recording>.vtt."""
    from pipeline.export import write_subtitles

    ws = open_workspace(workspace)
    for path in write_subtitles(ws, "vtt"):
        out.print(f"wrote {ws.display(path)}")
