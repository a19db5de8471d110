"""JSON Lines turns: one object per line with ``speaker``, ``start``, ``end`` and ``text``.

The speaker is a field of every record, so a record without one is a gap in the transcript,
not a continuation: :func:`pipeline.importers.parse_transcript` refuses it unless
``--no-speakers`` says the file has none.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.core.errors import CdaError
from pipeline.core.transcript import Turn
from pipeline.importers.common import load_json, read_text, seconds, short


def _speaker(path: Path, lineno: int, value: object) -> str | None:
    """The speaker label: text, or a whole number (written as text); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise CdaError(
            f"{path}:{lineno}: 'speaker' must be text, got {short(value)}",
            hint='write the speaker label as a string, e.g. "speaker": "SPEAKER_00"',
        )
    return value.strip() or None


def parse_jsonl(path: Path) -> list[Turn]:
    turns = []
    # Records end at "\n" only: str.splitlines() would also split at U+2028 or a form feed,
    # which JSON allows inside a string.
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        obj = load_json(line, path=path, line=lineno, hint="one JSON object per line")
        if not isinstance(obj, dict):
            raise CdaError(f"{path}:{lineno}: expected a JSON object", hint="one object per line")
        text = obj.get("text")
        if not isinstance(text, str):
            problem = "missing 'text'" if text is None else f"'text' is {short(text)}"
            raise CdaError(f"{path}:{lineno}: {problem}", hint="each turn needs a text")
        where = str(lineno)
        turns.append(
            Turn(
                speaker=_speaker(path, lineno, obj.get("speaker")),
                text=text,
                start=seconds(obj.get("start"), path=path, where=where, key="start"),
                end=seconds(obj.get("end"), path=path, where=where, key="end"),
                line=where,
            )
        )
    return turns
