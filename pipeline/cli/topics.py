"""``cda topics``: candidate topics for open coding (:mod:`pipeline.topics`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli._util import WorkspaceOpt, app, load_study, out


@app.command("topics")
def topics_cli(
    workspace: WorkspaceOpt = Path("."),
    round_no: Annotated[int, typer.Option("--round", help="Coding round.")] = 1,
) -> None:
    """Candidate topics for open coding (round 1)."""
    from pipeline.topics import run_topics

    ws, config = load_study(workspace)
    model = run_topics(ws, config, round_no=round_no)
    if model.embedded is not None:
        info, new = model.embedded.info, model.embedded.embedded
        out.print(
            f"topics: {len(model.docs)} unit(s) embedded with {info.name} ({info.model}, "
            f"{info.version}; {new} new)" + (f"; {info.note}" if info.note else "")
        )
    for topic in model.topics.itertuples(index=False):
        out.print(f"{topic.label:<40} {topic.size:>4}  {topic.keywords}")
