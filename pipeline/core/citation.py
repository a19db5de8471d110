"""How reports and coding tasks cite a moment: segment id, speaker pseudonym and time.

Verbatim text is attached only when the analyst opted in (``report.quotes``), and then only the
pseudonymised text: citing by id and time is the default, for participants' privacy.
"""

from __future__ import annotations

import pandas as pd


def clock(seconds: float | None) -> str:
    """``h:mm:ss`` for citing a moment in a recording; ``-`` when the transcript has no times."""
    if seconds is None or pd.isna(seconds):
        return "-"
    total = int(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def cite(row: pd.Series, *, quotes: bool) -> dict:
    return {
        "segment_id": row["segment_id"],
        "speaker": row["speaker"],
        "time": clock(row["start"]),
        "text": row["text"] if quotes else None,
    }
