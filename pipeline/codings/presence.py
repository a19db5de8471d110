"""Who coded what: the coders × segments presence arrays behind agreement and adjudication."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.codings.machine import human_rows
from pipeline.core.config import ADJUDICATION
from pipeline.core.schemas import DISAGREEMENTS


@dataclass(frozen=True)
class Presence:
    """Per code, a coders × segments array of 1/0/NaN, plus the labels of its axes."""

    coders: list[str]
    segments: list[str]
    codes: list[str]
    values: np.ndarray  # codes × coders × segments


def presence(
    codings: pd.DataFrame, codes: list[str] | None = None, *, machines: bool = False
) -> Presence:
    """Presence/absence of every code per coder and segment, from ``codings.parquet`` rows.

    Human coders only, unless ``machines``: a machine coder (``llm:<model>``) is measured
    against the humans (agreement's pair table) but never one of the coders who disagree.
    """
    if not machines:
        codings = human_rows(codings)
    live = codings[codings["status"].isin(["coded", "empty"]) & (codings["coder"] != ADJUDICATION)]
    coders = sorted(live["coder"].unique())
    segments = sorted(live["segment_id"].unique())
    used = sorted(live["code"].dropna().unique())
    all_codes = list(dict.fromkeys([*(codes or []), *used]))
    values = np.full((len(all_codes), len(coders), len(segments)), np.nan)
    coder_at = {c: i for i, c in enumerate(coders)}
    segment_at = {s: i for i, s in enumerate(segments)}
    code_at = {c: i for i, c in enumerate(all_codes)}
    for coder, segment in live[["coder", "segment_id"]].drop_duplicates().itertuples(index=False):
        values[:, coder_at[coder], segment_at[segment]] = 0
    for coder, segment, code in live.dropna(subset=["code"])[
        ["coder", "segment_id", "code"]
    ].itertuples(index=False):
        values[code_at[code], coder_at[coder], segment_at[segment]] = 1
    return Presence(coders, segments, all_codes, values)


def disagreements(codings: pd.DataFrame) -> pd.DataFrame:
    """(segment, code) units on which the coders who coded the segment differ."""
    p = presence(codings)
    rows = []
    for k, code in enumerate(p.codes):
        for s, segment in enumerate(p.segments):
            unit = p.values[k, :, s]
            given = ~np.isnan(unit)
            if given.sum() >= 2 and len(set(unit[given])) > 1:
                rows.append(
                    {
                        "segment_id": segment,
                        "code": code,
                        "with_code": ",".join(
                            c for c, v in zip(p.coders, unit, strict=True) if v == 1
                        ),
                        "without_code": ",".join(
                            c for c, v in zip(p.coders, unit, strict=True) if v == 0
                        ),
                    }
                )
    frame = pd.DataFrame(rows, columns=DISAGREEMENTS.names)
    return frame.sort_values(["segment_id", "code"]).reset_index(drop=True)
