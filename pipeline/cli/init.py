"""Create workspaces (``cda init``), optionally seeded with the bundled sample study.

Files are copied only when their content differs, so re-seeding the demo workspace keeps
modification times and ``make`` reruns nothing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from pipeline.core.config import load_config
from pipeline.core.io import write_bytes, write_text
from pipeline.core.paths import Workspace
from pipeline.language.markers import default_text as default_markers

# package data, so `cda init --sample` works from an installed wheel as from a checkout
SAMPLE = resources.files("pipeline").joinpath("resources", "sample")

PRIVATE_GITIGNORE = "# Identifying material: never commit.\n*\n"


def default_config(study: str, groups: list[str], language: str = "nl") -> str:
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
    ws.root.mkdir(parents=True, exist_ok=True)
    written = _skeleton(ws)
    written += _populate(ws, sample=sample, study=study, groups=groups, language=language)
    return written + _seed_markers(ws)


def _populate(
    ws: Workspace, *, sample: bool, study: str, groups: list[str] | None, language: str
) -> list[Path]:
    written: list[Path] = []
    if sample:
        copies = {
            SAMPLE / "cda.yaml": ws.config_file,
            SAMPLE / "recordings.csv": ws.manifest,
            SAMPLE / "private" / "names.csv": ws.names,
        }
        raw = SAMPLE / "raw"
        copies.update({p: ws.raw / p.name for p in sorted(raw.iterdir(), key=lambda p: p.name)})
        for src, dst in copies.items():
            if write_bytes(dst, src.read_bytes(), only_if_changed=True):
                written.append(dst)
        # The starter codebook becomes the analysts' round 1: copied once, then theirs.
        starter = SAMPLE / "codebooks" / "digitalisering-cohesie" / "round-1.yaml"
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
