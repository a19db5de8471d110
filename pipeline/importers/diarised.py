"""Who spoke when in a machine transcript, for measuring overlap (:class:`Speech`).

A WhisperX transcript's segments follow the recogniser's pauses and never overlap each other,
so measuring overlap on them would report 0 for every recording. The diariser's turns do
overlap where people talk at once, when the diariser can tell: pyannote's overlapping
diarisation does, and so can a hand-made RTTM. senko gives one speaker at a time, so with it,
as without diarisation, overlap is unknown rather than 0.
"""

from __future__ import annotations

import json
import math

from pipeline.core.errors import CdaError
from pipeline.core.io import read_csv
from pipeline.core.paths import Workspace
from pipeline.core.schemas import TRANSCRIPTS
from pipeline.core.transcript import Speech

OVERLAP_METHODS = ("pyannote", "rttm")
"""Diarisers whose turns can overlap, so overlap measured on them means something."""

_RERUN = "it is derived: delete it and run `cda transcribe` (or `make transcribe`) again"


def diarise_methods(ws: Workspace) -> dict[str, str]:
    """Recording id → the diariser of its transcript, from the transcribe index (read once
    per import); recordings not diarised are absent."""
    if not ws.transcribe_index.is_file():
        return {}
    index = read_csv(ws.transcribe_index, TRANSCRIPTS)
    return {
        row.recording_id: row.diarise_method
        for row in index.itertuples(index=False)
        if bool(row.diarised) and isinstance(row.diarise_method, str)
    }


def machine_speech(ws: Workspace, recording_id: str, methods: dict[str, str]) -> Speech:
    """The diariser's turns of a transcribed recording, or why overlap is unknown."""
    method = methods.get(recording_id)
    if method is None:
        return Speech(None, why="not diarised: overlap unknown")
    if method not in OVERLAP_METHODS:
        return Speech(None, why=f"{method} gives one speaker at a time: overlap unknown")
    return Speech(_turns(ws, recording_id), why=f"measured on {method}'s speaker turns")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _turns(ws: Workspace, recording_id: str) -> tuple[tuple[float, float, str], ...]:
    """pyannote 4's overlapping turns where stored, else the turns (pyannote 3, RTTM)."""
    path = ws.diarisation_json(recording_id)
    shown = ws.display(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CdaError(
            f"{shown} is missing, but the transcribe index says {recording_id} was diarised",
            hint="run `cda transcribe` (or `make transcribe`) again",
        ) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise CdaError(f"{shown}: not readable JSON ({exc})", hint=_RERUN) from None
    turns = data.get("overlapping_turns", data.get("turns")) if isinstance(data, dict) else None
    if not isinstance(turns, list):
        raise CdaError(f"{shown}: no 'turns' list", hint=_RERUN)
    out = []
    for n, turn in enumerate(turns):
        ok = isinstance(turn, dict) and _number(turn.get("start")) and _number(turn.get("end"))
        if not ok or not isinstance(turn.get("speaker"), str):
            raise CdaError(
                f"{shown}: turns[{n}] needs numeric start and end and a speaker label",
                hint=_RERUN,
            )
        out.append((float(turn["start"]), float(turn["end"]), turn["speaker"]))
    return tuple(out)
