"""Theme figures for the report: when themes came up, and which themes travel together.

The numbers (:func:`timeline`, :func:`cooccurrence`) are computed with the rest of the
theme section; the PNGs are rendered when it is written, as files beside the report and
embedded in it as data URIs, so the HTML stays one self-contained file. PNG metadata carries
no software version or date, so an unchanged round gives byte-identical figures.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline.core.transcript import in_turn_order

BINS = 10


def timeline(segments: pd.DataFrame, assigned: pd.DataFrame, codes: list[str]) -> pd.DataFrame:
    """Theme segments per tenth of each session, summed per group (rows: group, code, bin).

    A timed recording is cut by time; one without times by turn order (the n-th of N turns
    falls in tenth ⌊10 (n−1) / N⌋), so an untimed transcript still has a timeline.
    """
    seg = segments.copy()
    timed = seg.groupby("recording_id")["start"].transform(lambda s: s.notna().all())
    length = seg.groupby("recording_id")["end"].transform("max")
    length = length.fillna(seg.groupby("recording_id")["start"].transform("max"))
    by_time = BINS * seg["start"] / length.where(length > 0, 1)
    order = in_turn_order(seg, first=("recording_id",)).groupby("recording_id").cumcount()
    turns = seg.groupby("recording_id")["segment_id"].transform("size")
    by_turn = BINS * order.reindex(seg.index) / turns
    seg["bin"] = np.minimum(by_time.where(timed, by_turn).astype(int), BINS - 1)
    merged = assigned.merge(seg[["segment_id", "group", "bin"]], on="segment_id")
    counts = merged.groupby(["group", "code", "bin"]).size().rename("segments").reset_index()
    return counts[counts["code"].isin(codes)]


def cooccurrence(assigned: pd.DataFrame, codes: list[str]) -> pd.DataFrame:
    """Segments carrying both themes (the diagonal: segments carrying the theme)."""
    present = pd.crosstab(assigned["segment_id"], assigned["code"]).reindex(
        columns=codes, fill_value=0
    )
    present = (present > 0).astype(int)
    return present.T @ present


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def timeline_png(table: pd.DataFrame, labels: dict[str, str], groups: list[str]) -> bytes:
    codes = list(labels)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 0.35 * len(codes) + 1.4),
                             squeeze=False, sharey=True)  # fmt: skip
    top = max(int(table["segments"].max()) if len(table) else 1, 1)
    for ax, group in zip(axes[0], groups, strict=True):
        grid = np.zeros((len(codes), BINS))
        for row in table[table["group"] == group].itertuples():
            grid[codes.index(row.code), row.bin] = row.segments
        ax.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=top)
        ax.set_title(group)
        ax.set_xticks(range(BINS), [f"{10 * i}%" for i in range(BINS)], fontsize=7)
        ax.set_xlabel("session time")
    axes[0][0].set_yticks(range(len(codes)), [labels[c] for c in codes], fontsize=8)
    return _png(fig)


def cooccurrence_png(matrix: pd.DataFrame, labels: dict[str, str]) -> bytes:
    names = [labels[c] for c in matrix.index]
    size = 0.45 * len(names) + 2
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix.to_numpy(), cmap="Oranges")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        if value:
            ax.text(j, i, str(value), ha="center", va="center", fontsize=7)
    return _png(fig)


def data_uri(png: bytes) -> str:
    """The PNG as a data URI, so the HTML stays one self-contained file."""
    return "data:image/png;base64," + base64.b64encode(png).decode()
