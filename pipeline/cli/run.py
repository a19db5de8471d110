"""``cda run STAGE``: run a stage behind make, skipping it when nothing it depends on changed.

This is what the Makefile's recipes call (weasel's ``project run``). Calling the stage's own
command (``cda nlp``) always runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli._util import RoundOpt, WorkspaceOpt, app, open_workspace, out
from pipeline.core import registry
from pipeline.core.errors import CdaError

RUNNABLE = registry.RUN_STAGES


@app.command("run")
def run_cmd(
    stage: Annotated[str, typer.Argument(help=f"One of: {', '.join(RUNNABLE)}.")],
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    jobs: Annotated[int, typer.Option(help="Recordings in parallel (transcribe).", min=1)] = 1,
    force: Annotated[bool, typer.Option(help="Run even if nothing changed.")] = False,
) -> None:
    """Run STAGE unless its inputs, code and settings are unchanged since its last run."""
    from pipeline.core import lock
    from pipeline.core.config import load_config

    if stage not in RUNNABLE:
        raise CdaError(f"unknown stage {stage!r}", hint=f"choose one of: {', '.join(RUNNABLE)}")
    spec = registry.stage(stage)
    ws = open_workspace(workspace)
    config = load_config(ws)
    round_arg = round_no if spec.per_round else None
    args = [*spec.command.split(), "--workspace", str(ws.root)]
    if spec.per_round:
        args += ["--round", str(round_no)]
    if stage == "transcribe":
        args += ["--jobs", str(jobs)]
    cache = lock.hash_cache(ws, spec, round_arg)
    fingerprint_args = [*args[:1], *args[3:]]  # not the workspace path: a moved study is the same
    current = lock.fingerprint(ws, config, spec, round_arg, fingerprint_args, cache)
    if not force and lock.unchanged(ws, spec, round_arg, current):
        lock.touch_outputs(ws, spec, round_arg)
        lock.keep_cache(ws, spec, round_arg, cache)
        out.print(f"{stage}: inputs, code and settings unchanged; outputs kept")
        return
    code = app(args=args, standalone_mode=False)
    if code:
        raise typer.Exit(code)
    # hashed again after the run: a stage may rewrite one of its inputs (pseudonymise keeps
    # its speaker key), and what it ran on is what it leaves
    after = lock.fingerprint(ws, config, spec, round_arg, fingerprint_args, cache)
    lock.record(ws, spec, round_arg, after, cache)
