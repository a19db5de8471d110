"""``cda ingest``: register recordings and extract their audio (:mod:`pipeline.ingest`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli._util import WorkspaceOpt, app, load_study, out
from pipeline.core.errors import CdaError


@app.command("ingest")
def ingest_cli(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Recordings or folders of recordings to add.")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    recording_id: Annotated[str | None, typer.Option(help="Recording id (one file).")] = None,
    group: Annotated[str | None, typer.Option(help="Group of the recording(s).")] = None,
    date: Annotated[str | None, typer.Option(help="Date of the session (YYYY-MM-DD).")] = None,
    min_speakers: Annotated[int | None, typer.Option(help="Diarisation hint.", min=1)] = None,
    max_speakers: Annotated[int | None, typer.Option(help="Diarisation hint.", min=1)] = None,
    force: Annotated[bool, typer.Option(help="Extract audio again even if current.")] = False,
) -> None:
    """Register recordings (video or audio) and extract 16 kHz mono WAV for the models."""
    from pipeline.ingest import expand_media, extract_all, register_media

    ws, config = load_study(workspace)
    media = expand_media(files or [])
    if recording_id and len(media) != 1:
        raise CdaError("--recording-id needs exactly one file", hint="ingest files one by one")
    registered = 0
    for path in media:
        registered += 1
        rec = register_media(
            ws,
            config,
            path,
            recording_id=recording_id,
            group=group,
            date=date,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
        )
        out.print(f"registered {rec.recording_id} ({rec.group}, {rec.duration / 60:.1f} min)")
    done = extract_all(ws, config, force=force)
    extracted = registered + sum(rec.extracted for rec in done)
    minutes = sum(rec.duration for rec in done) / 60
    out.print(
        f"ingest: {len(done)} recording(s), {minutes:.1f} min of audio, {extracted} extracted"
    )
