"""``cda init``: create a workspace, optionally seeded with the bundled sample study.

Files are copied only when their content differs, so re-seeding the demo workspace keeps
modification times and ``make`` reruns nothing. :func:`init_workspace` is the plain function
(tests build workspaces with it); :func:`init_cli` parses the options and prints. The config,
io and marker modules are imported where they are used, so that registering the command for
``cda --help`` does not load pandas or pydantic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli._util import WorkspaceOpt, app, out
from pipeline.core.paths import Workspace

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def _sample() -> Traversable:
    """The bundled sample study: package data, so `cda init --sample` works from an installed
    wheel as from a checkout."""
    from importlib import resources

    return resources.files("pipeline").joinpath("resources", "sample")


PRIVATE_GITIGNORE = "# Identifying material: never commit.\n*\n"


def default_config(study: str, groups: list[str], language: str = "nl") -> str:
    import yaml

    body = yaml.safe_dump(
        {"study": study, "language": language, "groups": groups},
        sort_keys=False,
        allow_unicode=True,
    )
    return (
        "# Study configuration: one section per stage; `cda config show` prints every setting\n"
        "# with its default. Sections: transcribe, import, pseudonymise, nlp, topics, suggest,\n"
        "# report, labelstudio, export.\n"
        + body
        + "report:\n  quotes: false   # true shows pseudonymised verbatim text in reports\n"
    )


def _skeleton(ws: Workspace) -> list[Path]:
    from pipeline.core.io import write_text

    written = []
    for folder in (ws.raw, ws.interim, ws.processed, ws.private, ws.codebooks, ws.reports):
        folder.mkdir(parents=True, exist_ok=True)
    if write_text(ws.private / ".gitignore", PRIVATE_GITIGNORE, only_if_changed=True):
        written.append(ws.private / ".gitignore")
    return written


def _seed_markers(ws: Workspace) -> list[Path]:
    """Copy the bundled marker set of the study's language (as in cda.yaml), if there is one.

    The copy is the analyst's and is never overwritten. No set for the language: no file, and
    the nlp stage runs without markers rather than with another language's.
    """
    from pipeline.core.config import load_config
    from pipeline.core.io import write_text
    from pipeline.language.markers import default_text as default_markers

    markers = ws.codebooks / "markers.yaml"
    text = default_markers(load_config(ws).language)
    if markers.exists() or text is None:
        return []
    write_text(markers, text)
    return [markers]


def init_workspace(
    ws: Workspace,
    *,
    sample: bool = False,
    study: str = "my-study",
    groups: list[str] | None = None,
    language: str = "nl",
) -> list[Path]:
    """Create the workspace folders and config; never overwrite a user's existing config.

    ``language`` goes into a new cda.yaml only; the marker set copied is that of the
    language in cda.yaml, new or existing.
    """
    if not sample and not ws.config_file.exists():  # checked before any folder is made
        from pipeline.core.config import study_slug_problem
        from pipeline.core.errors import CdaError

        problem = study_slug_problem(study)
        if problem:
            raise CdaError(f"--study {problem}", hint="give --study a slug such as my-study")
    ws.root.mkdir(parents=True, exist_ok=True)
    written = _skeleton(ws)
    written += _populate(ws, sample=sample, study=study, groups=groups, language=language)
    return written + _seed_markers(ws)


def _populate(
    ws: Workspace, *, sample: bool, study: str, groups: list[str] | None, language: str
) -> list[Path]:
    from pipeline.core.io import write_bytes, write_text

    written: list[Path] = []
    if sample:
        bundled = _sample()
        copies = {
            bundled / "cda.yaml": ws.config_file,
            bundled / "recordings.csv": ws.manifest,
            bundled / "private" / "names.csv": ws.names,
        }
        raw = bundled / "raw"
        copies.update({p: ws.raw / p.name for p in sorted(raw.iterdir(), key=lambda p: p.name)})
        for src, dst in copies.items():
            if write_bytes(dst, src.read_bytes(), only_if_changed=True):
                written.append(dst)
        # The starter codebook becomes the analysts' round 1: copied once, then theirs.
        starter = bundled / "codebooks" / "digitalisering-cohesie" / "round-1.yaml"
        target = ws.codebooks / "digitalisering-cohesie" / "round-1.yaml"
        if starter.is_file() and not target.exists():
            write_bytes(target, starter.read_bytes())
            written.append(target)
        return written
    if not ws.config_file.exists():
        body = default_config(study, [g.strip() for g in groups or []], language)
        write_text(ws.config_file, body)
        written.append(ws.config_file)
    return written


@app.command("init")
def init_cli(
    workspace: WorkspaceOpt = Path("."),
    sample: Annotated[bool, typer.Option(help="Copy the bundled Dutch sample study.")] = False,
    study: Annotated[str, typer.Option(help="Study slug for a new cda.yaml.")] = "my-study",
    groups: Annotated[str, typer.Option(help="Comma-separated groups.")] = "burgers,deskundigen",
    language: Annotated[
        str, typer.Option(help="Language of a new cda.yaml (ISO code, e.g. nl, en).")
    ] = "nl",
) -> None:
    """Create a workspace: folders, cda.yaml, the language's discourse markers, and (with
    --sample) the bundled sample study."""
    from pipeline.core.config import load_config
    from pipeline.language.markers import default_text

    ws = Workspace.at(workspace)
    written = init_workspace(
        ws, sample=sample, study=study, groups=groups.split(","), language=language
    )
    out.print(f"workspace {ws.root}: {len(written)} file(s) written")
    study_language = load_config(ws).language
    if default_text(study_language) is None and not (ws.codebooks / "markers.yaml").exists():
        out.print(
            f"no bundled discourse markers for language '{study_language}': nlp runs without "
            "markers until you write codebooks/markers.yaml"
        )
