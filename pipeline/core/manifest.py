"""The recordings manifest (``data/recordings.csv``): one row per recording.

Paths in ``media`` and ``transcript`` are relative to ``data/``. ``sha256`` is the hash of the
source file (the media file, or the transcript for imported transcripts); a mismatch means raw
data changed after registration, which we refuse to paper over.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import copy_verified, read_csv, sha256_file, write_csv
from pipeline.core.paths import Workspace
from pipeline.core.schemas import AUDIO, MANIFEST

# A recording id becomes file names (data/interim/audio/<id>.wav, exports/<id>.srt): letters,
# digits, '_', '-', '.', starting with a letter or digit, never '..', at most 100 characters.
ID_PATTERN = re.compile(r"[^\W_][\w.-]{0,99}")
log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class RawSource:
    """A file checked for registration: where it will live under ``data/`` and its hash.

    Made by :func:`plan_raw` before anything is written; :func:`store_raw` then puts it there.
    """

    path: Path  # the file as given (resolved)
    target: Path  # where it lives once stored: data/raw/<name>, or where it is inside data/
    sha256: str  # of ``path`` when it was checked; the copy must have the same
    copy: bool  # False when ``target`` already holds these bytes

    def relative(self, ws: Workspace) -> str:
        """The path the manifest records (relative to ``data/``)."""
        return str(self.target.relative_to(ws.data.resolve()))


def plan_raw(
    ws: Workspace,
    manifest: pd.DataFrame,
    path: Path,
    *,
    recording_id: str,
    column: str,
    hash_column: str,
    sha256: str | None = None,
) -> RawSource:
    """Check that ``path`` may become ``recording_id``'s ``column`` (transcript or media).

    Raw data is immutable, so this refuses, before anything is copied or registered:

    - a recording that already has another file in ``column`` (``burgers.vtt`` when
      ``burgers.txt`` is registered: its segment ids, and every coding of them, would silently
      point at other text);
    - a file inside ``data/`` whose content no longer matches the hash it was registered with
      (importing it again would re-hash it and hide the change);
    - a file whose name is taken in ``data/raw`` by other content.

    ``sha256`` is the source's hash if the caller took it before reading the file, so that the
    copy is checked against the bytes that were validated.
    """
    path = path.expanduser().resolve()
    digest = sha256 or sha256_file(path)
    data = ws.data.resolve()
    target = path if data in path.parents else ws.raw.resolve() / path.name
    relative = str(target.relative_to(data))
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raise CdaError(
            f"{path}: the file name is not valid UTF-8, so it cannot be recorded in "
            f"{ws.display(ws.manifest)}",
            hint="rename the file (letters, digits, '-', '_' and '.' are safe)",
        ) from None
    rows = list(manifest.itertuples(index=False))
    for row_no, row in enumerate(rows, start=2):
        value = getattr(row, column)
        if not isinstance(value, str) or not value:
            continue
        registered = ws.resolve_data_path(value).resolve()
        if row.recording_id == recording_id and registered != target:
            raise CdaError(
                f"{path}: recording '{recording_id}' already has {column} {value} "
                f"({ws.display(ws.manifest)}:{row_no}); adding {path.name} would replace it, "
                f"and its segments and codings would then point at other content",
                hint=f"to add {path.name} as a recording of its own, give it another id "
                f"(e.g. --recording-id {recording_id}-2); to replace {value} on purpose, "
                f"delete row {row_no} of {ws.display(ws.manifest)} first",
            )
        recorded = getattr(row, hash_column)
        if registered == target == path and isinstance(recorded, str) and recorded != digest:
            raise CdaError(
                f"{ws.display(path)} changed since it was registered as '{row.recording_id}' "
                f"(its {hash_column} in {ws.display(ws.manifest)}:{row_no} differs); "
                "registering it again would hide the change",
                hint="raw data is immutable: restore the registered version, or save the new "
                "version outside data/ under another name and import it with a new "
                "--recording-id",
            )
    copy = target != path
    if copy and target.exists() and sha256_file(target) != digest:
        owners = _owners(ws, rows, target)
        if owners:
            raise CdaError(
                f"{path}: {ws.display(target)} already exists with other content, registered "
                f"as '{owners[0]}'",
                hint="raw data is immutable: save the new version under another file name and "
                "import it with a new --recording-id",
            )
        if not _cut_off_copy(target, path):
            raise CdaError(
                f"{path}: {ws.display(target)} already exists with other content",
                hint=f"raw data is immutable: rename {path.name} before adding it (and give "
                "--recording-id if the id should stay)",
            )
        log.info("%s is a cut-off copy of %s: completing it", ws.display(target), path)
    elif copy and target.exists():
        copy = False
    return RawSource(path=path, target=target, sha256=digest, copy=copy)


def _owners(ws: Workspace, rows: list, target: Path) -> list[str]:
    """Recording ids whose transcript or media is ``target``."""
    return [
        row.recording_id
        for row in rows
        for column in ("transcript", "media")
        if isinstance(value := getattr(row, column), str)
        and value
        and ws.resolve_data_path(value).resolve() == target
    ]


def _cut_off_copy(target: Path, source: Path) -> bool:
    """Is (unregistered) ``target`` the start of ``source``, as a copy killed half-way leaves?

    Releases before copies were atomic left such files; completing one loses nothing, since
    every byte of it is the start of the source.
    """
    size = target.stat().st_size
    if size >= source.stat().st_size:
        return False
    with open(target, "rb") as cut, open(source, "rb") as whole:
        while size > 0:
            block = cut.read(min(size, 1 << 20))
            if not block or whole.read(len(block)) != block:
                return False
            size -= len(block)
    return True


def store_raw(ws: Workspace, source: RawSource) -> Path:
    """Put a checked source file in place under ``data/`` (copying, never moving it).

    A file already inside ``data/`` stays where it is; otherwise the copy is atomic and
    verified against the hash that was checked (:func:`pipeline.core.io.copy_verified`).
    """
    if source.copy:
        copy_verified(source.path, source.target, sha256=source.sha256)
    return source.target


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
