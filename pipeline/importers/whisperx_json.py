"""WhisperX JSON, as ``whisperx --output_format json`` writes it (``json.dump(result)``).

Shape (whisperx 3.x ``utils.WriteJSON`` after ``align`` and ``assign_word_speakers``)::

    {"segments": [{"start": 0.03, "end": 2.5, "text": " Goedemiddag", "speaker": "SPEAKER_00",
                   "words": [{"word": "Goedemiddag", "start": 0.03, "end": 0.6,
                              "score": 0.91, "speaker": "SPEAKER_00"}]}],
     "word_segments": [...], "language": "nl"}

Words without alignment (numbers, symbols) lack ``start``/``end``/``score``; segments that no
diarisation turn overlaps lack ``speaker``. Unaligned output (no ``words``) is accepted too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.core.errors import CdaError
from pipeline.core.transcript import Turn, Word
from pipeline.importers.common import read_text


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def turns_from_result(result: Any, path: Path) -> list[Turn]:
    """Convert an in-memory WhisperX result dict (also used by the transcribe stage)."""
    if not isinstance(result, dict) or not isinstance(result.get("segments"), list):
        raise CdaError(
            f"{path}: no 'segments' list: not WhisperX JSON output",
            hint="export with `whisperx --output_format json`",
        )
    turns = []
    for index, seg in enumerate(result["segments"]):
        where = f"segments[{index}]"
        if not isinstance(seg, dict) or not isinstance(seg.get("text"), str):
            raise CdaError(f"{path}:{where}: segment without 'text'", hint="is the file complete?")
        words = tuple(
            Word(
                word=str(w.get("word", "")),
                start=_number(w.get("start")),
                end=_number(w.get("end")),
                score=_number(w.get("score")),
                speaker=w.get("speaker"),
            )
            for w in seg.get("words") or []
            if isinstance(w, dict)
        )
        turns.append(
            Turn(
                speaker=seg.get("speaker"),
                text=seg["text"],
                start=_number(seg.get("start")),
                end=_number(seg.get("end")),
                line=where,
                words=words,
            )
        )
    return turns


def parse_whisperx_json(path: Path) -> list[Turn]:
    try:
        result = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise CdaError(
            f"{path}:{exc.lineno}: invalid JSON ({exc.msg})", hint="is the file complete?"
        ) from None
    return turns_from_result(result, path)
