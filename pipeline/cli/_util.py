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
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace

if TYPE_CHECKING:
    from pipeline.core.config import StudyConfig


class Group(typer.core.TyperGroup):
    """Typer's group, minus the pydantic import its ``--help`` option costs on every call.

    When ``cda report --help`` runs, the group's own ``--help`` is absent (value None), and
    Typer builds a pydantic TypeAdapter to coerce that None, which it then returns unchanged
    (``RuntimeParam.coerce``): importing pydantic for it doubled the time of a subcommand's
    help. A pass-through is the same coercion for the only values the option takes (None, or
    the bool ``True`` that Typer never coerces). Should Typer's internals move, nothing is set
    and its own behaviour stays.
    """

    def get_help_option(self, ctx: typer.Context):
        option = super().get_help_option(ctx)
        if option is not None and getattr(option, "_runtime_param", False) is None:
            try:
                from typer._coercion import PassThroughRuntimeParam
            except ImportError:  # a Typer without it: its own coercion runs
                return option
            descriptor = option.type_descriptor
            option._runtime_param = PassThroughRuntimeParam(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
            )
        return option


app = typer.Typer(
    cls=Group,
    help="Critical discourse analysis pipeline for workshop recordings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(
    cls=Group, help="Inspect the study configuration (cda.yaml).", no_args_is_help=True
)
app.add_typer(config_app, name="config")
codebook_app = typer.Typer(
    cls=Group, help="Codebooks per coding round: create, check, diff, close.", no_args_is_help=True
)
app.add_typer(codebook_app, name="codebook")
labelstudio_app = typer.Typer(
    cls=Group,
    help="The workspace's local Label Studio server: start, stop, status.",
    no_args_is_help=True,
)
app.add_typer(labelstudio_app, name="labelstudio")
ls_app = typer.Typer(
    cls=Group,
    help="Sync coding rounds with Label Studio: push tasks, pull codings, adjudicate.",
    no_args_is_help=True,
)
app.add_typer(ls_app, name="ls")
export_app = typer.Typer(
    cls=Group,
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

# Set by the app callback, read by main() once the command has failed: with --verbose an
# error shows its causes, not only its one line.
_verbose = False


@app.callback()
def _setup(
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Debug messages; on an error, also what caused it."),
    ] = False,
) -> None:
    global _verbose
    _verbose = verbose
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


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what led to it, oldest first.

    Follows ``__context__`` too when ``raise ... from None`` suppressed it: a library raises
    that way so its users see one clean error, but with --verbose the cause is what is asked for.
    """
    chain = [exc]
    while True:
        cause = chain[-1].__cause__ or chain[-1].__context__
        if cause is None or any(cause is seen for seen in chain):
            return chain[::-1]
        chain.append(cause)


def cause_text(exc: BaseException) -> str:
    """The tracebacks of ``exc``'s chain of causes, in Python's own layout."""
    chain = _causes(exc)
    parts: list[str] = []
    for at, error in enumerate(chain):
        if at:
            parts.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
                if error.__cause__ is chain[at - 1]
                else "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        parts += traceback.format_exception(type(error), error, error.__traceback__, chain=False)
    return "".join(parts)


def report_error(exc: CdaError, *, verbose: bool) -> None:
    """Print a user error on stderr: its one line and hint, after its causes when ``verbose``."""
    if verbose:
        sys.stderr.write(cause_text(exc) + "\n")
        sys.stderr.flush()
    # escaped: a path like reports/[draft]/ or a "[/]" in a message is text, not rich markup
    console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
    if exc.hint:
        console.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit status 2.

    With ``cda --verbose`` the line and hint come after the traceback of the error and of
    every exception that caused it. Anything that is not a CdaError is a bug and keeps its
    traceback.
    """
    try:
        app()
    except CdaError as exc:
        report_error(exc, verbose=_verbose)
        sys.exit(2)
