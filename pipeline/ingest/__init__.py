"""The ``ingest`` stage: register workshop recordings and extract the audio models read.

``cda ingest FILE|DIR --group G`` checks each recording (it must have a decodable, non-silent
audio stream), copies it into ``data/raw/`` and adds it to the manifest with its hash and
duration. ``cda ingest`` without files (what ``make ingest`` runs) re-extracts the WAV of every
registered recording whose media changed, and refuses media that changed after registration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core import registry
from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import claimed_temp, sha256_file, write_csv
from pipeline.core.manifest import (
    check_groups,
    plan_raw,
    read_audio_index,
    read_manifest,
    registered_file,
    resolve_group,
    store_raw,
    upsert,
    write_manifest,
)
from pipeline.core.paths import Workspace
from pipeline.core.progress import track
from pipeline.core.schemas import AUDIO
from pipeline.ingest.media import AudioInfo, extract_audio

# the registry holds the list, so make's prerequisites are the same files
MEDIA_SUFFIXES = registry.MEDIA_SUFFIXES


@dataclass(frozen=True)
class IngestedRecording:
    recording_id: str
    group: str
    duration: float
    extracted: bool
    """False when the WAV from an earlier run was still current."""


def expand_media(paths: list[Path]) -> list[Path]:
    """Files as given; folders become their media files (by extension), sorted by name."""
    found: list[Path] = []
    for path in paths:
        path = path.expanduser()
        if path.is_dir():
            media = sorted(p for p in path.iterdir() if p.suffix.lower() in MEDIA_SUFFIXES)
            if not media:
                known = " ".join(sorted(MEDIA_SUFFIXES))
                raise CdaError(f"{path}: no media files in this folder", hint=f"expected {known}")
            found.extend(media)
        elif path.is_file():
            found.append(path)
        else:
            raise CdaError(f"{path}: file not found", hint="check the path")
    return found


def _audio_row(ws: Workspace, rid: str, media_sha: str, info: AudioInfo) -> dict:
    wav = ws.wav(rid)
    return {
        "recording_id": rid,
        "media_sha256": media_sha,
        "wav": str(wav.relative_to(ws.data)),
        "wav_sha256": sha256_file(wav),
        "duration": round(info.duration, 3),
        "peak_dbfs": round(info.peak_dbfs, 2),
        "rms_dbfs": round(info.rms_dbfs, 2),
    }


def _write_index(ws: Workspace, rows: dict[str, dict]) -> None:
    frame = pd.DataFrame(list(rows.values()), columns=AUDIO.names) if rows else AUDIO.empty()
    write_csv(frame.sort_values("recording_id"), AUDIO, ws.audio_index, only_if_changed=True)


def register_media(
    ws: Workspace,
    config: StudyConfig,
    path: Path,
    *,
    recording_id: str | None = None,
    group: str | None = None,
    date: str | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
) -> IngestedRecording:
    """Check one recording, extract its audio, then copy it to ``data/raw`` and register it.

    Everything is checked before anything is written: the id and file name (no listed name),
    the group, the manifest (:func:`pipeline.core.manifest.plan_raw`: no second media file for
    a recording, no changed raw file re-registered), and the media itself, whose WAV is
    extracted to a temporary file. A file without audio, a corrupt or silent one, or any other
    refusal leaves the manifest, ``data/raw`` and the WAVs as they were.
    """
    from pipeline.language.names import check_new_recording

    path = path.expanduser().resolve()
    rid = recording_id or path.stem
    check_new_recording(ws, config, path, recording_id=rid, id_given=recording_id is not None)
    manifest = read_manifest(ws)
    group = resolve_group(ws, config, manifest, rid, group, path)
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise CdaError(
            f"{path}: --min-speakers {min_speakers} is more than --max-speakers {max_speakers}",
            hint="swap the values",
        )
    if not path.is_file():
        raise CdaError(f"{path}: file not found", hint="check the path")
    source = plan_raw(
        ws, manifest, path, recording_id=rid, column="media", hash_column="media_sha256"
    )
    wav = ws.wav(rid)
    with claimed_temp(wav) as pending:
        info = extract_audio(path, pending)  # probes first: bad media never gets this far
        store_raw(ws, source)
        os.replace(pending, wav)
    row: dict = {
        "recording_id": rid,
        "group": group,
        "media": source.relative(ws),
        "media_sha256": source.sha256,
        "duration": round(info.duration, 3),
    }
    optional = {"date": date, "min_speakers": min_speakers, "max_speakers": max_speakers}
    row.update({key: value for key, value in optional.items() if value is not None})
    index = read_audio_index(ws)
    index[rid] = _audio_row(ws, rid, source.sha256, info)
    write_manifest(ws, upsert(manifest, row))
    _write_index(ws, index)
    return IngestedRecording(rid, group, info.duration, extracted=True)


def extract_all(
    ws: Workspace, config: StudyConfig, *, force: bool = False
) -> list[IngestedRecording]:
    """Make ``data/interim/audio`` match the manifest: extract new or changed media only."""
    manifest = read_manifest(ws, required=True)
    check_groups(ws, manifest, config)
    rows = manifest[manifest["media"].notna()]
    index = read_audio_index(ws)
    done: list[IngestedRecording] = []
    updated = manifest.copy()
    for row in track(rows.itertuples(index=False), description="ingest", total=len(rows)):
        path, digest = registered_file(ws, row, "media", "media_sha256")
        known = index.get(row.recording_id)
        wav = ws.wav(row.recording_id)
        current = (
            known is not None and known["media_sha256"] == digest and wav.is_file() and not force
        )
        if current:
            duration = float(known["duration"])
        else:
            info = extract_audio(path, wav)
            index[row.recording_id] = _audio_row(ws, row.recording_id, digest, info)
            duration = info.duration
        hit = updated["recording_id"] == row.recording_id
        updated.loc[hit, "media_sha256"] = digest
        updated.loc[hit, "duration"] = round(duration, 3)
        done.append(IngestedRecording(row.recording_id, row.group, duration, not current))
    # Forget WAVs of recordings that left the manifest (the files stay; delete them by hand).
    index = {rid: value for rid, value in index.items() if rid in set(rows["recording_id"])}
    write_manifest(ws, updated)
    _write_index(ws, index)
    return done
