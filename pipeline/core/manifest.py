"""The recordings manifest (``data/recordings.csv``): one row per recording.

Paths in ``media`` and ``transcript`` are relative to ``data/``. ``sha256`` is the hash of the
source file (the media file, or the transcript for imported transcripts); a mismatch means raw
data changed after registration, which we refuse to paper over.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd

from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_csv, sha256_file, write_csv
from pipeline.core.paths import Workspace
from pipeline.core.schemas import AUDIO, MANIFEST

# A recording id becomes file names (data/interim/audio/<id>.wav, exports/<id>.srt): letters,
# digits, '_', '-', '.', starting with a letter or digit, never '..', at most 100 characters.
ID_PATTERN = re.compile(r"[^\W_][\w.-]{0,99}")


def check_recording_id(recording_id: str, *, what: str, hint: str) -> None:
    """Refuse an id that could leave the workspace or break make (``../x``, ``a b``, ``/x``)."""
    if not ID_PATTERN.fullmatch(recording_id) or ".." in recording_id:
        raise CdaError(
            f"{what} {recording_id!r} is not a valid recording id: use letters, digits, "
            "'_', '-' or '.', starting with a letter or digit (no spaces, slashes or '..')",
            hint=hint,
        )


def read_manifest(ws: Workspace, *, required: bool = False) -> pd.DataFrame:
    """The manifest, with every recording id checked (the file may have been edited by hand)."""
    manifest = read_csv(ws.manifest, MANIFEST, required=required)
    for row_no, rid in enumerate(manifest["recording_id"], start=2):
        check_recording_id(
            str(rid),
            what=f"{ws.display(ws.manifest)}:{row_no}: recording",
            hint="rename it in the manifest (and its files in data/raw), then rerun",
        )
    return manifest


def write_manifest(ws: Workspace, manifest: pd.DataFrame) -> bool:
    """Write the manifest only when its content changed, so make does not rerun stages."""
    return write_csv(manifest, MANIFEST, ws.manifest, only_if_changed=True)


def check_groups(ws: Workspace, manifest: pd.DataFrame, config: StudyConfig) -> None:
    """Every recording's group must be one the study declares (typos split a group in two)."""
    for row_no, row in enumerate(manifest.itertuples(index=False), start=2):
        if row.group not in config.groups:
            raise CdaError(
                f"{ws.display(ws.manifest)}:{row_no}: recording '{row.recording_id}' has unknown "
                f"group '{row.group}'",
                hint=f"use one of {', '.join(config.groups)} or add it to 'groups' in cda.yaml",
            )


def upsert(manifest: pd.DataFrame, row: dict) -> pd.DataFrame:
    """Add a recording, or update the given fields of an existing one (order kept)."""
    hit = manifest["recording_id"] == row["recording_id"]
    if hit.any():
        out = manifest.copy()
        for key, value in row.items():
            out.loc[hit, key] = value
        return out
    full = {c: row.get(c) for c in MANIFEST.names}
    return pd.concat([manifest, pd.DataFrame([full])], ignore_index=True)


def store_raw(ws: Workspace, path: Path) -> Path:
    """Copy a source file into ``data/raw/`` (never move it) and return where it lives now.

    A file already inside ``data/`` stays where it is. A different file with the same name is
    refused rather than overwritten: raw data is immutable.
    """
    path = path.expanduser().resolve()
    if ws.data.resolve() in path.parents:
        return path
    target = ws.raw.resolve() / path.name
    if target.exists():
        if sha256_file(target) != sha256_file(path):
            raise CdaError(
                f"{ws.display(target)} already exists with other content",
                hint="rename the file you are adding",
            )
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, target)
    return target


def resolve_group(
    ws: Workspace,
    config: StudyConfig,
    manifest: pd.DataFrame,
    recording_id: str,
    group: str | None,
    path: Path,
) -> str:
    """The group for a file being added: as given, or the registered recording's group."""
    if group is None:
        existing = manifest[manifest["recording_id"] == recording_id]
        if existing.empty:
            raise CdaError(
                f"{path}: recording '{recording_id}' is not in {ws.display(ws.manifest)}",
                hint="pass --group to register it",
            )
        group = str(existing["group"].iloc[0])
    if group not in config.groups:
        raise CdaError(
            f"{path}: unknown group '{group}'",
            hint=f"use one of {', '.join(config.groups)} or add it to 'groups' in cda.yaml",
        )
    return group


def registered_file(ws: Workspace, row: object, column: str, hash_column: str) -> tuple[Path, str]:
    """The raw file a manifest row points to, and its sha256, checked against the one recorded.

    Raw data is immutable: a file that changed since registration is refused, naming the file
    and the manifest column to clear if the change was intended.
    """
    rid = row.recording_id
    path = ws.resolve_data_path(getattr(row, column))
    if not path.is_file():
        raise CdaError(
            f"{ws.display(ws.manifest)}: {column} of '{rid}' not found at {path}",
            hint=f"fix the '{column}' path (relative to data/) or restore the file",
        )
    digest = sha256_file(path)
    recorded = getattr(row, hash_column)
    if isinstance(recorded, str) and recorded and recorded != digest:
        raise CdaError(
            f"{ws.display(path)} changed since it was registered ({hash_column} in "
            f"{ws.display(ws.manifest)} differs)",
            hint=f"raw data is immutable: restore the file, or clear its {hash_column} in the "
            "manifest if the change is intended",
        )
    return path, digest


def read_audio_index(ws: Workspace) -> dict[str, dict]:
    frame = read_csv(ws.audio_index, AUDIO, required=False)
    return {row["recording_id"]: row for row in frame.to_dict("records")}
