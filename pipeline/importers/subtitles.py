"""SRT and WebVTT subtitles, one cue per turn.

Speakers come from WebVTT voice tags (``<v Name>``), a ``Name:`` / ``SPEAKER_01:`` prefix, or
WhisperX's own ``[SPEAKER_01]:`` prefix. Other tags (``<i>``, ``<c.x>``, timestamps) are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.core.errors import CdaError
from pipeline.core.transcript import Turn
from pipeline.importers.common import parse_clock, read_text, split_speaker

_TIMING = re.compile(r"^\s*(?P<start>[\d:.,]+)\s*-->\s*(?P<end>[\d:.,]+)(?:\s+.*)?$")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+(?P<name>[^>]+)>")
_TAG = re.compile(r"</?[^>]*>")


def _cue_turn(path: Path, lineno: int, timing: str, text_lines: list[str]) -> Turn:
    match = _TIMING.match(timing)
    start = parse_clock(match.group("start")) if match else None
    end = parse_clock(match.group("end")) if match else None
    if start is None or end is None:
        raise CdaError(
            f"{path}:{lineno}: unreadable cue timing '{timing.strip()}'",
            hint="expected 'hh:mm:ss,mmm --> hh:mm:ss,mmm'",
        )
    raw = " ".join(line.strip() for line in text_lines)
    voice = _VOICE.search(raw)
    speaker = voice.group("name").strip() if voice else None
    text = _TAG.sub("", raw).strip()
    if speaker is None:
        speaker, text = split_speaker(text)
    return Turn(speaker=speaker, text=text, start=start, end=end, line=str(lineno))


def _parse_blocks(path: Path, text: str, *, vtt: bool) -> list[Turn]:
    lines = text.splitlines()
    if vtt and (not lines or not lines[0].startswith("WEBVTT")):
        raise CdaError(f"{path}:1: missing 'WEBVTT' header", hint="is this a WebVTT file?")
    turns: list[Turn] = []
    block: list[tuple[int, str]] = []
    for lineno, line in enumerate([*lines, ""], start=1):
        if line.strip():
            block.append((lineno, line))
            continue
        if not block:
            continue
        timing_at = next((i for i, (_, ln) in enumerate(block) if "-->" in ln), None)
        first = block[0][1].strip()
        if timing_at is None:
            # WebVTT header, NOTE, STYLE and REGION blocks carry no cue.
            if vtt and (first.startswith(("WEBVTT", "NOTE", "STYLE", "REGION"))):
                block = []
                continue
            raise CdaError(
                f"{path}:{block[0][0]}: block without a '-->' timing line",
                hint="each cue needs a timing line",
            )
        lineno_timing, timing = block[timing_at]
        body = [ln for _, ln in block[timing_at + 1 :]]
        turns.append(_cue_turn(path, lineno_timing, timing, body))
        block = []
    return turns


def parse_srt(path: Path) -> list[Turn]:
    return _parse_blocks(path, read_text(path), vtt=False)


def parse_vtt(path: Path) -> list[Turn]:
    return _parse_blocks(path, read_text(path), vtt=True)
