"""``cda nlp``: parse the segments with spaCy (:mod:`pipeline.nlp`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli._util import WorkspaceOpt, app, load_study, out


@app.command("nlp")
def nlp_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Sentences, tokens, lemmas, POS, entities and parses per segment (spaCy, Frog or
    simplemma, whichever is best installed: nlp.backend)."""
    from pipeline.nlp import run_nlp

    ws, config = load_study(workspace)
    run = run_nlp(ws, config)
    info = run.info
    why = f"; {info.note}" if info.note else ""
    markers = run.markers_note or f"{run.markers} marker match(es)"
    out.print(
        f"nlp: {info.pipeline} ({info.version}, parser {'on' if info.parser else 'off'}{why}); "
        f"{run.parsed} segment(s) parsed, {run.cached} from cache; {markers}"
    )
