"""``cda codebook new|check|diff|state``: codebooks per coding round (:mod:`pipeline.codebook`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli._util import RoundOpt, WorkspaceOpt, codebook_app, console, load_study, out
from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace


@codebook_app.command("new")
def codebook_new_cli(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Start a round: round 1 from topic candidates (or empty), later rounds from the last."""
    from pipeline.codebook import new_round

    ws, config = load_study(workspace)
    out.print(f"created {ws.display(new_round(ws, config, round_no))}")


@codebook_app.command("check")
def codebook_check_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Validate every round's codebook (and that closed rounds are unchanged).

    With segments in the workspace, also warn about keywords and patterns that match none.
    """
    from pipeline.codebook import load_round, rounds

    ws, config = load_study(workspace)
    found = rounds(ws, config)
    if not found:
        raise CdaError(
            f"no codebooks in {ws.display(ws.codebooks / config.study)}",
            hint="run `cda codebook new --round 1`",
        )
    table = Table("round", "state", "codes", "themes", "based on", "sha256")
    for round_no in found:
        loaded = load_round(ws, config, round_no)
        book = loaded.book
        themes = sum(1 for c in book.codes if any(o.parent == c.id for o in book.codes))
        table.add_row(
            str(round_no),
            book.state,
            str(len(book.codes)),
            str(themes),
            book.based_on or "-",
            loaded.sha256[:12],
        )
    out.print(table)
    _warn_unmatched(ws, config, found)


def _warn_unmatched(ws: Workspace, config, found: list[int]) -> None:
    """Warn (not fail) about keywords and patterns that match no segment of the workspace."""
    from rich.markup import escape

    from pipeline.codebook import load_round, round_path
    from pipeline.language.parse import segment_docs
    from pipeline.suggest import unmatched_terms

    if not ws.segments.is_file():
        out.print("no segments yet: keywords and patterns not checked against the text")
        return
    parsed = segment_docs(ws, config)
    for round_no in found:
        dead = unmatched_terms(
            load_round(ws, config, round_no).book, parsed.docs, parsed.nlp, parsed.terms
        )
        name = ws.display(round_path(ws, config, round_no))
        for term in dead:
            console.print(
                f"[yellow]warning[/]: {escape(name)}: code '{term.code}': {term.kind} "
                f"{escape(repr(term.term))} matches no segment",
                highlight=False,
                soft_wrap=True,
            )
        if dead:
            console.print(
                f"[yellow]warning[/]: {escape(name)}: {len(dead)} keyword(s)/pattern(s) match "
                f"none of the {len(parsed.docs)} segments; check their spelling or drop them",
                highlight=False,
                soft_wrap=True,
            )


@codebook_app.command("diff")
def codebook_diff_cli(
    old: Annotated[str, typer.Argument(help="Earlier round, e.g. round-1.")],
    new: Annotated[str, typer.Argument(help="Later round, e.g. round-2.")],
    workspace: WorkspaceOpt = Path("."),
    markdown: Annotated[Path | None, typer.Option(help="Also write the diff as Markdown.")] = None,
) -> None:
    """Added, removed, renamed, merged, split and changed codes between two rounds."""
    from pipeline.codebook import diff, diff_markdown, load_round
    from pipeline.core.io import write_text

    ws, config = load_study(workspace)

    def number(name: str) -> int:
        digits = name.removesuffix(".yaml").removeprefix("round-")
        if not digits.isdigit():
            raise CdaError(f"'{name}' is not a round", hint="write round-1 or 1")
        return int(digits)

    changes = diff(
        load_round(ws, config, number(old)).book, load_round(ws, config, number(new)).book
    )
    table = Table("change", old, new, "fields")
    for ch in changes:
        table.add_row(ch.kind, ", ".join(ch.old) or "-", ", ".join(ch.new) or "-", ch.detail or "-")
    out.print(table)
    if markdown is not None:
        write_text(markdown, diff_markdown(changes, old, new))
        out.print(f"wrote {markdown}")


@codebook_app.command("state")
def codebook_state_cli(
    state: Annotated[str, typer.Argument(help="coding or closed.")],
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
) -> None:
    """Move a round forward: open → coding → closed (closed rounds are frozen)."""
    from pipeline.codebook import set_state

    if state not in ("open", "coding", "closed"):
        raise CdaError(f"unknown state '{state}'", hint="use open, coding or closed")
    ws, config = load_study(workspace)
    loaded = set_state(ws, config, round_no, state)  # type: ignore[arg-type]
    out.print(f"round {round_no} is now {loaded.book.state}")
