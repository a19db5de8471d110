"""``cda suggest``: machine code suggestions, scored with --evaluate (:mod:`pipeline.suggest`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli._util import RoundOpt, WorkspaceOpt, app, load_study, num, out


@app.command("suggest")
def suggest_cli(
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    evaluate: Annotated[
        Path | None,
        typer.Option(
            help="Score the suggestions against expected codes: precision, recall and F1 per "
            "code, micro (all) and macro. "
            "CSV with a header row recording_id,turn,codes: turn is the segment's 1-based turn "
            "number within its recording; codes are separated by ';'."
        ),
    ] = None,
) -> None:
    """Machine code suggestions per segment from the round's codebook (keywords, similarity).

    With --evaluate, 'all' pools every (segment, code) pair (micro-average); 'macro' is the
    unweighted mean over the codes that have expected segments (a code never suggested counts
    as precision 0); codes suggested but never expected are listed, not averaged.
    """
    from pipeline.suggest import run_suggest

    ws, config = load_study(workspace)
    result = run_suggest(ws, config, round_no=round_no)
    table = result.table
    by_source = table.groupby("source").size().to_dict()
    out.print(
        f"suggest: {len(table)} suggestion(s) for {table['segment_id'].nunique()} "
        f"segment(s) from {ws.display(result.codebook.path)} ({by_source})"
    )
    backend = result.info.get("similarity")
    if backend:
        out.print(
            f"suggest: similarity by {backend['name']} ({backend['model']}, {backend['version']}"
            f"; min {result.info['min_similarity']})"
            + (f"; {backend['note']}" if backend["note"] else "")
        )
    learned = result.info.get("learned") or {}
    if learned.get("source"):
        training = learned["training"]
        out.print(
            f"suggest: learned from human codes ({learned['source']}; "
            f"{training['this_round']} segment(s) of this round, {training['previous_round']} "
            "of the previous one); cross-validated on the coded segments:"
        )
        view = Table("code", "model", "with", "without", "precision", "recall", "F1", "threshold")
        for fit in learned["codes"]:
            learned_code = fit["mode"] == "learned"
            view.add_row(
                fit["code"],
                "learned" if learned_code else f"zero-shot: {fit['reason']}",
                str(fit["positives"]),
                str(fit["negatives"]),
                *(num(fit[k]) if learned_code else "–" for k in ("precision", "recall", "f1")),
                str(fit["threshold"]) if learned_code else "–",
            )
        out.print(view)
    elif learned.get("note"):
        out.print(f"suggest: zero-shot only ({learned['note']})")
    if evaluate is not None:
        from pipeline.suggest import evaluate_file

        scores = evaluate_file(ws, table, evaluate)
        view = Table("code", "expected", "suggested", "correct", "precision", "recall", "F1")
        for row in scores.itertuples(index=False):
            view.add_row(
                row.code,
                str(row.expected),
                str(row.suggested),
                str(row.correct),
                num(row.precision),
                num(row.recall),
                num(row.f1),
            )
        out.print(view)
        graded = int(((scores["expected"] > 0) & ~scores["code"].isin(["all", "macro"])).sum())
        out.print(
            "all: micro-average over (segment, code) pairs; macro: mean over the "
            f"{graded} code(s) with expected segments (never suggested = precision 0); "
            "– : undefined (nothing suggested or expected)"
        )
