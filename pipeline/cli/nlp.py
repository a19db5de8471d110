"""``cda nlp``: parse the segments with spaCy (:mod:`pipeline.nlp`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli._util import WorkspaceOpt, app, load_study, out


@app.command("nlp")
def nlp_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Sentences, tokens and lemmas per segment with spaCy."""
    from pipeline.nlp import run_nlp

    ws, config = load_study(workspace)
    run = run_nlp(ws, config)
    why = f" ({run.info.note})" if run.info.note else ""
    markers = run.markers_note or f"{run.markers} marker match(es)"
    out.print(
        f"nlp: {run.info.pipeline}{why}; {run.parsed} segment(s) parsed, {run.cached} from "
        f"cache; {markers}"
    )
