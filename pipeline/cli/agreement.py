"""``cda agreement``: inter-coder agreement of a round (:mod:`pipeline.agreement`)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from pipeline.cli._util import RoundOpt, WorkspaceOpt, app, load_study, num, out


@app.command("agreement")
def agreement_cli(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Inter-coder agreement of the round: Krippendorff's alpha, Cohen's kappa, disagreements."""
    from pipeline.agreement import run_agreement

    ws, config = load_study(workspace)
    result = run_agreement(ws, config, round_no)
    view = Table("code", "alpha", "% agree", "units", "present")
    for row in result.codes.itertuples(index=False):
        view.add_row(
            row.code, num(row.alpha), num(row.percent_agreement, pct=True),
            str(row.units), str(row.present),
        )  # fmt: skip
    out.print(view)
    if result.codes["coders"].max() < 2 if len(result.codes) else True:
        out.print("agreement needs two coders: set labelstudio.rounds in cda.yaml")
    out.print(
        f"{len(result.disagreements)} disagreement(s) in {ws.display(ws.disagreements(round_no))}"
    )
