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
