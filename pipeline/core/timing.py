"""Overlapping speech, measured once and the same way everywhere.

People talk over each other in every focus group and debate; an importer that refused it
would refuse ordinary transcripts. So overlap is kept as data, in the ``overlap`` column of
``segments``, and this is the one definition of it (the import computes it for new tables, the
``segments`` v1 -> v2 upgrade for old ones).
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def _known(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def overlaps(times: Iterable[tuple[float | None, float | None]]) -> list[float | None]:
    """Per turn of one recording, in turn order: seconds spoken over earlier turns.

    For turn *i* with times ``[start_i, end_i]``, and ``latest`` the greatest end of all earlier
    turns: ``max(0, min(latest, end_i) - start_i)``, rounded to milliseconds. That is the part
    of the turn that falls before every earlier turn has ended; it lies in ``[0, end_i -
    start_i]``, and the first turn's is 0. The greatest earlier end, not just the previous
    turn's: a short interjection inside a long turn must not hide that the next turn still
    overlaps the long one.

    None where it cannot be known: the turn has no start or end, or an earlier turn lacks one
    (its end, and so what it overlaps, is unknown).
    """
    out: list[float | None] = []
    latest: float | None = None
    unknown = False
    for start, end in times:
        if unknown or not (_known(start) and _known(end)):
            unknown = True
            out.append(None)
            continue
        spoken_over = 0.0 if latest is None else max(0.0, min(latest, end) - start)
        out.append(round(float(spoken_over), 3))
        latest = end if latest is None else max(latest, end)
    return out


Span = tuple[float, float]
SpeakerTurn = tuple[float, float, str]


def crosstalk(turns: Iterable[SpeakerTurn]) -> list[Span]:
    """The stretches in which two or more different speakers speak, merged, in time order.

    A sweep over the turns' boundaries: between two consecutive boundaries the set of speakers
    with a turn under way is constant; a stretch is crosstalk when that set has two or more
    speakers. One speaker's own overlapping turns are one speaker, not crosstalk, and a hand-over
    (one ends where the next starts) is none either.
    """
    events: list[tuple[float, int, str]] = []
    for start, end, speaker in turns:
        if end > start:
            events += [(float(start), 1, speaker), (float(end), -1, speaker)]
    events.sort(key=lambda e: e[0])
    active: dict[str, int] = {}
    regions: list[Span] = []
    i = 0
    while i < len(events):
        at = events[i][0]
        while i < len(events) and events[i][0] == at:
            _, step, speaker = events[i]
            active[speaker] = active.get(speaker, 0) + step
            if not active[speaker]:
                del active[speaker]
            i += 1
        if i < len(events) and len(active) >= 2:
            until = events[i][0]
            if regions and regions[-1][1] == at:
                regions[-1] = (regions[-1][0], until)
            else:
                regions.append((at, until))
    return regions


def _merged(spans: list[Span]) -> list[Span]:
    """Overlapping or touching spans as one (a speaker's own turns that overlap are one turn)."""
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def spoken_over(turns: Iterable[SpeakerTurn]) -> dict[str, list[Span]]:
    """Per speaker, the stretches in which they speak over an earlier turn still under way.

    The rule of :func:`overlaps`, applied to a diariser's speaker turns (which overlap where
    people talk at once): each speaker's own overlapping turns are merged first; then, with the
    turns in order of start, turn *i* is spoken over earlier turns from its start until
    ``min(greatest earlier end, end_i)``. A segment's overlap is the part of it inside its
    speaker's stretches (:func:`seconds_inside`), so it means what an imported turn's means.
    """
    by_speaker: dict[str, list[Span]] = {}
    for start, end, speaker in turns:
        if end > start:
            by_speaker.setdefault(speaker, []).append((float(start), float(end)))
    ordered = sorted(
        (start, end, speaker)
        for speaker, spans in by_speaker.items()
        for start, end in _merged(spans)
    )
    out: dict[str, list[Span]] = {speaker: [] for speaker in by_speaker}
    latest: float | None = None
    for start, end, speaker in ordered:
        if latest is not None and latest > start:
            out[speaker].append((start, min(latest, end)))
        latest = end if latest is None else max(latest, end)
    return out


def seconds_inside(regions: Iterable[Span], start: float, end: float) -> float:
    """Seconds of ``[start, end]`` that fall in the (non-overlapping) regions."""
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in regions if a < end and b > start)
