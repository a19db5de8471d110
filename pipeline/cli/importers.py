"""``cda import``: transcripts into the manifest and segments, or a QDPX archive's codings into a
round (:mod:`pipeline.importers`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli._util import RoundOpt, WorkspaceOpt, app, load_study, out
from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace


@app.command("import")
def import_cli(
    files: Annotated[list[Path] | None, typer.Argument(help="Transcripts to register.")] = None,
    workspace: WorkspaceOpt = Path("."),
    recording_id: Annotated[str | None, typer.Option(help="Recording id (one file).")] = None,
    group: Annotated[str | None, typer.Option(help="Group of the recording(s).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Override format detection.")] = None,
    no_speakers: Annotated[
        bool,
        typer.Option(
            help="Accept files without speakers, and JSONL lines without one (as 'unknown')."
        ),
    ] = False,
    round_no: RoundOpt = 1,
    coder: Annotated[
        str | None, typer.Option(help="qdpx: the coder of every coding in the archive.")
    ] = None,
    force: Annotated[bool, typer.Option(help="qdpx: import into a closed round.")] = False,
) -> None:
    """Import transcripts (WhisperX JSON, SRT, VTT, JSONL, TXT, DOCX) listed in the manifest.

    `cda import qdpx FILE.qdpx --round N` instead brings codings made in ATLAS.ti, NVivo,
    MAXQDA or QualCoder into the round's codings.parquet.
    """
    from pipeline.importers import import_transcripts, register_all

    ws, config = load_study(workspace)
    files = files or []
    if files and files[0] == Path("qdpx") and not files[0].exists():
        if len(files) != 2:
            raise CdaError("cda import qdpx takes one archive", hint="cda import qdpx FILE.qdpx")
        _import_qdpx(ws, config, files[1], round_no, coder, force)
        return
    if files and all(f.suffix.lower() == ".qdpx" for f in files):
        raise CdaError(
            "a .qdpx archive holds codings, not transcripts",
            hint=f"cda import qdpx {files[0]} --round N",
        )
    if recording_id and len(files) != 1:
        raise CdaError("--recording-id needs exactly one file", hint="import files one by one")
    if files:
        register_all(
            ws,
            config,
            files,
            recording_id=recording_id,
            group=group,
            require_speakers=not no_speakers,
            fmt=fmt,
        )
    summary = import_transcripts(ws, config, require_speakers=not no_speakers, fmt=fmt)
    table = Table(
        "recording",
        "group",
        "segments",
        "speakers",
        "words",
        "timed\nwords",
        "seconds",
        caption="words: in the text; timed words: with word timings (WhisperX JSON); "
        "seconds: summed turn lengths (overlapping speech counts twice)",
    )
    for rec in summary:
        table.add_row(
            rec.recording_id,
            rec.group,
            str(rec.segments),
            str(rec.speakers),
            str(rec.words),
            str(rec.timed_words),
            f"{rec.seconds:.0f}" if rec.seconds is not None else "-",
        )
    out.print(table)


def _import_qdpx(
    ws: Workspace, config, archive: Path, round_no: int, coder: str | None, force: bool
) -> None:
    from pipeline.importers.qdpx import import_qdpx

    result = import_qdpx(ws, config, archive, round_no, coder=coder, force=force)
    table = result.imported.table
    coded = table[table["code"].notna()]
    counts = coded["coder"].value_counts().sort_index()
    per_coder = ", ".join(f"{c}: {n}" for c, n in counts.items())
    memos = table.drop_duplicates(["segment_id", "coder"])["memo"].notna().sum()
    replaced = f", replacing {result.replaced} earlier row(s)" if result.replaced else ""
    out.print(
        f"imported {len(coded)} coding(s) ({per_coder}) and {memos} memo(s) "
        f"from {archive.name}{replaced}"
    )
    verb = "wrote" if result.written else "unchanged:"
    out.print(f"{verb} {ws.display(result.path)}")
