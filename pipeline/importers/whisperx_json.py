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

from pathlib import Path
from typing import Any

from pipeline.core.errors import CdaError
from pipeline.core.transcript import Turn, Word
from pipeline.importers.common import load_json, read_text, seconds, short

_HINT = "export with `whisperx --output_format json`"


def _label(path: Path, where: str, value: Any) -> str | None:
    """A speaker label: text or absent. Anything else is refused, not turned into text."""
    if value is None or isinstance(value, str):
        return value
    raise CdaError(
        f"{path}:{where}: 'speaker' must be text, got {short(value)}",
        hint='a speaker is one label, e.g. "SPEAKER_00": was the file edited by hand?',
    )


def _score(path: Path, where: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CdaError(f"{path}:{where}: 'score' must be a number, got {short(value)}", hint=_HINT)
    return float(value)


def _word(path: Path, where: str, w: Any) -> Word:
    if not isinstance(w, dict):
        raise CdaError(f"{path}:{where}: a word must be an object, got {short(w)}", hint=_HINT)
    word = w.get("word", "")
    if not isinstance(word, str):
        raise CdaError(f"{path}:{where}: 'word' must be text, got {short(word)}", hint=_HINT)
    return Word(
        word=word,
        start=seconds(w.get("start"), path=path, where=where, key="start"),
        end=seconds(w.get("end"), path=path, where=where, key="end"),
        score=_score(path, where, w.get("score")),
        speaker=_label(path, where, w.get("speaker")),
    )


def turns_from_result(result: Any, path: Path) -> list[Turn]:
    """Convert an in-memory WhisperX result dict (also used by the transcribe stage).

    Every field is checked for its type here (``segments[3].words[2]`` names the place), so a
    list where a label belongs is refused instead of becoming the text "['A', 'B']".
    """
    if not isinstance(result, dict) or not isinstance(result.get("segments"), list):
        raise CdaError(f"{path}: no 'segments' list: not WhisperX JSON output", hint=_HINT)
    turns = []
    for index, seg in enumerate(result["segments"]):
        where = f"segments[{index}]"
        if not isinstance(seg, dict) or not isinstance(seg.get("text"), str):
            raise CdaError(f"{path}:{where}: segment without 'text'", hint="is the file complete?")
        words = seg.get("words")
        if words is not None and not isinstance(words, list):
            raise CdaError(
                f"{path}:{where}: 'words' must be a list, got {short(words)}", hint=_HINT
            )
        turns.append(
            Turn(
                speaker=_label(path, where, seg.get("speaker")),
                text=seg["text"],
                start=seconds(seg.get("start"), path=path, where=where, key="start"),
                end=seconds(seg.get("end"), path=path, where=where, key="end"),
                line=where,
                words=tuple(
                    _word(path, f"{where}.words[{n}]", w) for n, w in enumerate(words or [])
                ),
            )
        )
    return turns


def parse_whisperx_json(path: Path) -> list[Turn]:
    result = load_json(read_text(path), path=path, hint="is the file complete?")
    return turns_from_result(result, path)
