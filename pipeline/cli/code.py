"""``cda code --llm``: a language model as an extra, measured coder (:mod:`pipeline.code`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli._util import RoundOpt, WorkspaceOpt, app, load_study, out, say
from pipeline.core.errors import CdaError


@app.command("code")
def code_cli(
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    llm: Annotated[
        bool,
        typer.Option(
            "--llm",
            help="Code with the model of llm.model at llm.base_url (an OpenAI-compatible "
            "server on this machine unless llm.allow_remote), as coder llm:<model>.",
        ),
    ] = False,
    restart: Annotated[
        bool,
        typer.Option(help="Replace this model's stored codes of the round with a new run."),
    ] = False,
    force: Annotated[bool, typer.Option(help="Add the machine coder to a closed round.")] = False,
) -> None:
    """Code the round's participant segments with a language model, stored as its own coder.

    Resumable: a rerun codes only the segments the model has no codes for. Its codes never
    count as findings; `cda agreement` measures them against each human coder per code.
    """
    if not llm:
        raise CdaError(
            "cda code needs a coder to run", hint="cda code --llm (see llm: in cda.yaml)"
        )
    from pipeline.code import llm_file, run_code

    ws, config = load_study(workspace)
    result = run_code(ws, config, round_no, restart=restart, force=force)
    total = result.coded + result.empty
    why = ", ".join(f"{reason}: {n}" for reason, n in sorted(result.reasons.items()))
    out.print(
        f"code: {result.coder} coded {total} segment(s) of round {round_no} "
        f"({result.coded} with codes, {result.empty} with none); "
        f"{result.already} coded before; {len(result.failed)} failed" + (f" ({why})" if why else "")
    )
    record = ws.display(llm_file(ws, round_no))
    out.print(f"code: {ws.display(ws.codings(round_no))}; record in {record}")
    if result.failed:
        say("code: failed segments have no codes; run the command again to retry them")
