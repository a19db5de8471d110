"""``cda kwic``, ``cda keyness``, ``cda collocations``: corpus tools on the parsed, pseudonymised
segments (:mod:`pipeline.language.corpus`); a table on screen, every row with --csv."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli._util import WorkspaceOpt, app, open_workspace, out
from pipeline.core.paths import Workspace


def _corpus(ws: Workspace) -> tuple:
    from pipeline.core.io import read_table
    from pipeline.core.schemas import SEGMENTS, TOKENS

    return read_table(ws.segments, SEGMENTS), read_table(ws.tokens, TOKENS)


def _emit(frame, csv: Path | None, title: str, columns: list[str], limit: int) -> None:
    """Print the first rows as a table; with --csv also write every row (atomically)."""
    from pipeline.core.io import write_text

    if csv is not None:
        write_text(csv, frame.to_csv(index=False, lineterminator="\n"))
        out.print(f"wrote {len(frame)} row(s) to {csv}")
    table = Table(*columns, title=title)
    for row in frame.head(limit).itertuples(index=False):
        record = row._asdict()
        table.add_row(
            *[
                f"{record[c]:.2f}" if isinstance(record[c], float) else str(record[c])
                for c in columns
            ]
        )
    out.print(table)


CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Also write all rows to this CSV.")]
LimitOpt = Annotated[int, typer.Option(help="Rows to print.")]


@app.command("kwic")
def kwic_cli(
    term: Annotated[str, typer.Argument(help="Word or phrase (matched on lemma or form).")],
    workspace: WorkspaceOpt = Path("."),
    group: Annotated[str | None, typer.Option(help="Only this group.")] = None,
    window: Annotated[int, typer.Option(help="Tokens of context either side.", min=1)] = 5,
    forms: Annotated[bool, typer.Option("--forms", help="Match word forms only.")] = False,
    csv: CsvOpt = None,
    limit: LimitOpt = 50,
) -> None:
    """Concordance (keyword in context) from pseudonymised segments, with ids and times."""
    from pipeline.language.corpus import kwic

    segments, tokens = _corpus(open_workspace(workspace))
    import pandas as pd

    lines = kwic(segments, tokens, term, group=group, window=window, lemma=not forms)
    lines["time"] = lines["start"].map(
        lambda s: (
            "" if pd.isna(s) else f"{int(s) // 3600}:{int(s) % 3600 // 60:02d}:{int(s) % 60:02d}"
        )
    )
    _emit(
        lines,
        csv,
        f"{len(lines)} line(s) for '{term}'",
        ["segment_id", "speaker", "time", "left", "node", "right"],
        limit,
    )


@app.command("keyness")
def keyness_cli(
    target: Annotated[str, typer.Argument(help="Group (or --by value) to characterise.")],
    workspace: WorkspaceOpt = Path("."),
    reference: Annotated[
        str | None, typer.Option(help="Compare with this; default: the rest.")
    ] = None,
    by: Annotated[str, typer.Option(help="Segment column: group, speaker or role.")] = "group",
    min_freq: Annotated[int, typer.Option(help="Minimum frequency in the target.", min=1)] = 5,
    min_speakers: Annotated[int, typer.Option(help="Minimum speakers using it.", min=1)] = 2,
    csv: CsvOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Key lemmas of a group against another (G2, log ratio, dispersion over speakers)."""
    from pipeline.core.config import load_config
    from pipeline.language.corpus import keyness

    ws = open_workspace(workspace)
    segments, tokens = _corpus(ws)
    table = keyness(
        tokens,
        segments,
        target,
        reference=reference,
        by=by,
        min_freq=min_freq,
        min_speakers=min_speakers,
        language=load_config(ws).language,
    )
    _emit(
        table,
        csv,
        f"key lemmas of {by} '{target}' vs {reference or 'the rest'}",
        ["lemma", "freq_target", "freq_reference", "g2", "log_ratio", "speakers", "dp"],
        limit,
    )


@app.command("collocations")
def collocations_cli(
    node: Annotated[str, typer.Argument(help="Node lemma.")],
    workspace: WorkspaceOpt = Path("."),
    window: Annotated[int, typer.Option(help="Content words either side.", min=1)] = 5,
    min_freq: Annotated[int, typer.Option(help="Minimum co-occurrences.", min=1)] = 2,
    by: Annotated[str, typer.Option(help="Segment column to split by.")] = "group",
    csv: CsvOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Collocates of a lemma per group (log-Dice and MI)."""
    from pipeline.core.config import load_config
    from pipeline.language.corpus import collocations

    ws = open_workspace(workspace)
    segments, tokens = _corpus(ws)
    language = load_config(ws).language
    table = collocations(
        tokens, segments, node, window=window, min_freq=min_freq, by=by, language=language
    )
    _emit(
        table,
        csv,
        f"collocates of '{node}' per {by}",
        [by, "collocate", "f_xy", "log_dice", "mi"],
        limit,
    )
