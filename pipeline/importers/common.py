"""Helpers shared by the format parsers: decoding, timestamps and speaker prefixes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pipeline.core.errors import CdaError

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def read_text(path: Path) -> str:
    """Decode a transcript as UTF-8 (or BOM-marked UTF-16); name the line of the first bad byte.

    We never guess a legacy encoding: a wrong guess silently corrupts names and quotes.
    """
    data = path.read_bytes()
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom) :], name
            break
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CdaError(
            f"{path}:{line}: not valid {encoding} "
            f"(byte 0x{data[exc.start]:02x} at column {column})",
            hint="re-save the file as UTF-8, e.g. `iconv -f cp1252 -t utf-8 in.txt > out.txt`",
        ) from None


def load_json(text: str, *, path: Path, line: int | None = None, hint: str) -> Any:
    """``json.loads`` whose every failure is a :class:`CdaError` naming the file and line.

    Besides syntax errors, Python's reader fails on input nested deeper than its recursion
    limit (``RecursionError``) and on integers of more than 4300 digits (``ValueError``); a
    hostile or broken file must not end in a traceback either way. ``line`` is the line of a
    JSON Lines record (the error's own line is used for a whole-file document).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{line}:{exc.colno}" if line is not None else f"{exc.lineno}:{exc.colno}"
        raise CdaError(f"{path}:{where}: invalid JSON ({exc.msg})", hint=hint) from None
    except RecursionError:
        where = f"{path}:{line}" if line is not None else str(path)
        raise CdaError(
            f"{where}: JSON nested too deeply to read",
            hint="a transcript nests a few levels deep: this file is broken or no transcript",
        ) from None
    except ValueError as exc:
        where = f"{path}:{line}" if line is not None else str(path)
        raise CdaError(f"{where}: unreadable JSON ({exc})", hint=hint) from None


def seconds(value: Any, *, path: Path, where: str, key: str) -> float | None:
    """A time in seconds from JSON: a number, or None when absent (``null`` or ``""``).

    Anything else (text, ``true``, a list) is refused rather than dropped, since a missing
    time silently changes overlap and duration figures. Finite and range checks are
    :func:`pipeline.core.transcript.check_turns`'s.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CdaError(
            f"{path}:{where}: '{key}' must be a number of seconds, got {short(value)}",
            hint="write times as numbers, e.g. 12.5",
        )
    try:
        return float(value)
    except OverflowError:
        raise CdaError(
            f"{path}:{where}: '{key}' is too large to be a time ({len(str(value))} digits)",
            hint="times are seconds from the start of the recording, e.g. 12.5",
        ) from None


def short(value: Any, limit: int = 60) -> str:
    """A value as an error message shows it: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")


def parse_clock(value: str) -> float | None:
    """``[hh:]mm:ss[.mmm|,mmm]`` to seconds; None when it is not a clock time."""
    match = _CLOCK.match(value.strip())
    if not match:
        return None
    hours, minutes, seconds, fraction = match.groups()
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    millis = int(fraction.ljust(3, "0")) if fraction else 0
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + millis / 1000


# "Name: text", "SPEAKER_01: text" or WhisperX's "[SPEAKER_01]: text". A label is short and
# starts with a letter, so "Let op: dit" style sentences rarely match (at most four words, plus
# an optional one-word affiliation in parentheses: "Mevrouw Inge van Dijk (CDA)").
_PREFIX = re.compile(
    r"^\s*(?:\[(?P<bracketed>[^\]\n]{1,60})\]"
    r"|(?P<plain>[^\W\d_][\w.'’\-]*(?: [\w.'’\-()]+){0,3}(?: \(\w[\w.'’\-]{0,29}\))?))"
    r"\s*:\s*(?P<text>.*)$",
    re.DOTALL,
)


def split_speaker(text: str) -> tuple[str | None, str]:
    """Split a ``Name: text`` prefix off; return (None, text) when there is none."""
    match = _PREFIX.match(text)
    if not match:
        return None, text.strip()
    speaker = (match.group("bracketed") or match.group("plain")).strip()
    return speaker, match.group("text").strip()
