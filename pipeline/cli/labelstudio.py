"""``cda labelstudio start|stop|status`` (the local server) and ``cda ls push|pull|adjudicate``
(coding rounds in it) (:mod:`pipeline.labelstudio`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from pipeline.cli._util import (
    RoundOpt,
    WorkspaceOpt,
    labelstudio_app,
    load_study,
    ls_app,
    open_workspace,
    out,
)


@labelstudio_app.command("start")
def labelstudio_start_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Start Label Studio on 127.0.0.1, data in data/labelstudio/ (first start: admin + key)."""
    from pipeline.labelstudio import server as labelstudio

    ws, config = load_study(workspace)
    url = labelstudio.start(ws, config)
    out.print(
        f"Label Studio: {url}  (log in as {labelstudio.USERNAME}; password in {ws.root / '.env'})"
    )


@labelstudio_app.command("stop")
def labelstudio_stop_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Stop the workspace's Label Studio server."""
    from pipeline.labelstudio import server as labelstudio

    stopped = labelstudio.stop(open_workspace(workspace))
    out.print("Label Studio stopped" if stopped else "Label Studio was not running")


@labelstudio_app.command("status")
def labelstudio_status_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Say whether the workspace's server runs and answers."""
    from pipeline.labelstudio import server as labelstudio

    ws, config = load_study(workspace)
    url = labelstudio.local_url(config)
    pid = labelstudio.running_pid(ws)
    state = "running" if pid and labelstudio.healthy(url) else "not running"
    out.print(f"Label Studio {state} ({url})")
    if state != "running":
        raise typer.Exit(1)


@ls_app.command("push")
def ls_push_cli(
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    recreate: Annotated[
        bool, typer.Option(help="Make a new project for a coder whose project was deleted.")
    ] = False,
    order: Annotated[
        Literal["segment", "uncertainty"] | None,
        typer.Option(
            help="Order of new tasks: segment (turn order) or uncertainty (the learned model's "
            "most uncertain first, from `cda suggest`). Default: labelstudio.order in cda.yaml "
            "(segment). Tasks already pushed keep their place.",
            show_default=False,
        ),
    ] = None,
    transcripts: Annotated[
        bool,
        typer.Option(
            help="Instead of a coding round: one transcript-correction project per recording "
            "(audio per segment, the pseudonymised text editable, the speaker a choice)."
        ),
    ] = False,
) -> None:
    """Push the round's segments to one Label Studio project per coder (safe to repeat)."""
    from pipeline.labelstudio import push

    ws, config = load_study(workspace)
    if transcripts:
        from pipeline.labelstudio.transcripts import push_transcripts

        for r in push_transcripts(ws, config):
            out.print(
                f"transcript project {r.project_id} ({r.recording_id}): {r.created} new "
                f"task(s), {r.unchanged} already there"
            )
        return
    results = push(ws, config, round_no, recreate=recreate, order=order)
    view = Table("coder", "project", "new", "updated", "unchanged", "kept (coded)", "predictions")
    for r in results:
        view.add_row(
            r.coder, str(r.project_id), str(r.created), str(r.updated), str(r.unchanged),
            str(len(r.kept_coded)), str(r.predictions),
        )  # fmt: skip
    out.print(view)
    for r in results:
        out.print(f"coder {r.coder}: {r.order_line()}")


@ls_app.command("pull")
def ls_pull_cli(
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    force: Annotated[
        bool, typer.Option(help="Overwrite the frozen codings of a closed round.")
    ] = False,
    transcripts: Annotated[
        bool,
        typer.Option(
            help="Instead of a coding round: the transcript corrections into "
            "data/interim/corrections.parquet (applied by `cda pseudonymise`)."
        ),
    ] = False,
) -> None:
    """Export the round's annotations into data/processed/round-N/codings.parquet."""
    from pipeline.labelstudio import pull

    ws, config = load_study(workspace)
    if transcripts:
        from pipeline.labelstudio.transcripts import pull_transcripts

        done = pull_transcripts(ws, config)
        state = "written" if done.written else "unchanged"
        out.print(
            f"{ws.display(ws.corrections)} {state}: {len(done.table)} corrected segment(s) "
            f"from {done.recordings} recording(s); run `cda pseudonymise` and the later stages"
        )
        return
    result = pull(ws, config, round_no, force=force)
    table = result.table
    view = Table("coder", "segments", "codes", "skipped", "empty", "task deleted")
    for coder, rows in table.groupby("coder"):
        counts = rows["status"].value_counts()
        view.add_row(
            coder, str(rows["segment_id"].nunique()), str(int((rows["status"] == "coded").sum())),
            str(counts.get("skipped", 0)), str(counts.get("empty", 0)),
            str(counts.get("task-deleted", 0)),
        )  # fmt: skip
    out.print(view)
    state = "written" if result.written else "unchanged"
    out.print(
        f"{ws.display(ws.codings(round_no))} {state}; {result.changed_annotations} annotation(s) "
        "new or edited since the last pull"
    )


@ls_app.command("adjudicate")
def ls_adjudicate_cli(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Push the segments the coders disagree on into an adjudication project."""
    from pipeline.labelstudio import adjudicate

    ws, config = load_study(workspace)
    results = adjudicate(ws, config, round_no)
    for r in results:
        out.print(
            f"adjudication project {r.project_id}: {r.created} new task(s), "
            f"{r.unchanged} already there, {r.predictions} coder version(s) as predictions"
        )
