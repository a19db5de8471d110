"""Helpers shared by the format parsers: decoding, timestamps and speaker prefixes."""

from __future__ import annotations

import re
from pathlib import Path

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
