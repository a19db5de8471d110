"""Who corrected which recording's transcript, from ``corrections.parquet``, for a report.

In ``pipeline.core`` so that the report stage (which may not import ``pipeline.labelstudio``)
can say which recordings were corrected by hand, how many segments, and by whom.
"""

from __future__ import annotations

import pandas as pd

SUMMARY_COLUMNS = ["recording_id", "corrected_segments", "text_changed", "speaker_changed",
                   "times_changed", "correctors", "last_updated"]  # fmt: skip


def correction_summary(corrections: pd.DataFrame) -> pd.DataFrame:
    """One row per corrected recording: segments corrected, of them how many had their text,
    their speaker and their times changed (a segment can count in each), and the correctors.

    Text counts as changed when it differs from the text shown other than in whitespace, the
    rule of the pull; recordings without corrections have no row (machine transcript as is).
    """
    if corrections.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    frame = corrections.assign(
        _text=[
            " ".join(str(a).split()) != " ".join(str(b).split())
            for a, b in zip(corrections["text"], corrections["original_text"], strict=True)
        ],
        _speaker=corrections["speaker"] != corrections["original_speaker"],
        _times=corrections["start"].notna(),
    )
    rows = []
    for rid, part in frame.groupby("recording_id", sort=True):
        rows.append(
            {
                "recording_id": rid,
                "corrected_segments": int(part["segment_id"].nunique()),
                "text_changed": int(part["_text"].sum()),
                "speaker_changed": int(part["_speaker"].sum()),
                "times_changed": int(part["_times"].sum()),
                "correctors": "; ".join(sorted(set(part["corrector"]))),
                "last_updated": part["updated_at"].dropna().max()
                if part["updated_at"].notna().any()
                else None,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
