"""JSON Lines turns: one object per line with ``speaker``, ``start``, ``end`` and ``text``."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.errors import CdaError
from pipeline.core.transcript import Turn
from pipeline.importers.common import read_text


def _seconds(path: Path, lineno: int, obj: dict, key: str) -> float | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CdaError(
            f"{path}:{lineno}: '{key}' must be a number of seconds, got {value!r}",
            hint="write times as numbers, e.g. 12.5",
        )
    return float(value)


def parse_jsonl(path: Path) -> list[Turn]:
    turns = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CdaError(
                f"{path}:{lineno}: invalid JSON ({exc.msg})", hint="one JSON object per line"
            ) from None
        if not isinstance(obj, dict):
            raise CdaError(f"{path}:{lineno}: expected a JSON object", hint="one object per line")
        text = obj.get("text")
        if not isinstance(text, str):
            raise CdaError(f"{path}:{lineno}: missing 'text'", hint="each turn needs a text")
        speaker = obj.get("speaker")
        turns.append(
            Turn(
                speaker=str(speaker).strip() if speaker not in (None, "") else None,
                text=text,
                start=_seconds(path, lineno, obj, "start"),
                end=_seconds(path, lineno, obj, "end"),
                line=str(lineno),
            )
        )
    return turns
