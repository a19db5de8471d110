"""What every ``cda`` command shares: the Typer app and its groups, option types, consoles,
workspace loading, and :func:`main`, which turns a :class:`CdaError` into one line and exit 2.

The command modules (one per stage word, as in spaCy's ``cli/`` package) register on
:data:`app` when :mod:`pipeline.cli` imports them. Nothing here, and nothing at the top of a
command module, imports pandas, pydantic or a stage: building the command tree for ``cda
--help`` must stay fast, so stage code is imported inside the command that runs it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace

if TYPE_CHECKING:
    from pipeline.core.config import StudyConfig

app = typer.Typer(
    help="Critical discourse analysis pipeline for workshop recordings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the study configuration (cda.yaml).", no_args_is_help=True)
app.add_typer(config_app, name="config")
codebook_app = typer.Typer(
    help="Codebooks per coding round: create, check, diff, close.", no_args_is_help=True
)
app.add_typer(codebook_app, name="codebook")
labelstudio_app = typer.Typer(
    help="The workspace's local Label Studio server: start, stop, status.", no_args_is_help=True
)
app.add_typer(labelstudio_app, name="labelstudio")
ls_app = typer.Typer(
    help="Sync coding rounds with Label Studio: push tasks, pull codings, adjudicate.",
    no_args_is_help=True,
)
app.add_typer(ls_app, name="ls")
export_app = typer.Typer(
    help="Exports for other tools: segments with codes as CSV, subtitles with pseudonyms.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")

# notes, warnings, logs and errors go to stderr; results (tables, "wrote ...") to stdout
console = Console(stderr=True)
out = Console()

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Study workspace (holds cda.yaml and data/).")
]
RoundOpt = Annotated[int, typer.Option("--round", help="Coding round.", min=1)]
XsdOpt = Annotated[
    Path | None,
    typer.Option(help="Validate against this REFI-QDA XSD (from qdasoftware.org) first."),
]


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )


def open_workspace(path: Path) -> Workspace:
    """The workspace at ``path``, refused with a hint when the folder does not exist."""
    ws = Workspace.at(path)
    if not ws.root.is_dir():
        raise CdaError(f"workspace {ws.root} does not exist", hint="run `cda init --workspace DIR`")
    return ws


def load_study(path: Path) -> tuple[Workspace, StudyConfig]:
    """The workspace at ``path`` and its validated cda.yaml."""
    from pipeline.core.config import load_config

    ws = open_workspace(path)
    return ws, load_config(ws)


def say(text: str) -> None:
    """A note or warning on stderr, as written (labels may contain [brackets])."""
    console.print(text, highlight=False, soft_wrap=True, markup=False)


def num(value: float | None, *, pct: bool = False) -> str:
    """A score for a table cell; undefined (None or NaN) is shown as '–', never as 0."""
    import math

    if value is None or math.isnan(value):
        return "–"
    return f"{value:.0%}" if pct else f"{value:.3f}"


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit status 2."""
    try:
        app()
    except CdaError as exc:
        console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        if exc.hint:
            console.print(f"[yellow]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)
        sys.exit(2)
