"""How a theme is talked about: its key words, its discourse markers, who brought it up.

Everything here compares a theme's participant segments with the rest of the participants'
talk, because a marker count means little without a baseline (``wij`` is frequent anywhere):

- **keyness**: the theme's key lemmas against the other segments (G2 and log ratio from
  :func:`pipeline.corpus.keyness`, used by at least two speakers);
- **markers**: per category (in-/out-group reference, modality, hedging, responsibility, ...)
  the rate per 1,000 tokens inside the theme and outside it;
- **actors**: the actor markers inside the theme, most frequent first;
- **first mentions**: per recording, the first segment carrying the theme (facilitator or
  participant, and when) and how many participants took it up afterwards.
"""

from __future__ import annotations

import pandas as pd

from pipeline.citation import clock
from pipeline.corpus import keyness
from pipeline.errors import CdaError


def theme_segments(assigned: pd.DataFrame, code: str) -> set[str]:
    return set(assigned.loc[assigned["code"] == code, "segment_id"])


def key_lemmas(
    tokens: pd.DataFrame, participants: pd.DataFrame, members: set[str], *, top: int = 8
) -> list[dict]:
    """The theme's most characteristic lemmas (overused against the other segments)."""
    inside = participants["segment_id"].isin(members)
    if not inside.any() or inside.all():
        return []
    labelled = participants.assign(theme=inside.map({True: "in", False: "out"}))
    mine = tokens[tokens["segment_id"].isin(labelled["segment_id"])]
    try:
        table = keyness(mine, labelled, "in", by="theme", min_freq=2, min_speakers=2)
    except CdaError:  # no content words inside the theme: nothing is key
        return []
    return [
        {"lemma": r.lemma, "g2": round(r.g2, 1), "log_ratio": round(r.log_ratio, 2)}
        for r in table.head(top).itertuples()
    ]


def marker_rates(
    tokens: pd.DataFrame, markers: pd.DataFrame, participants: pd.DataFrame, members: set[str]
) -> list[dict]:
    """Per marker category: matches per 1,000 tokens inside the theme and in the rest."""
    words = tokens[~tokens["is_punct"]]
    ids = set(participants["segment_id"])
    inside = words["segment_id"].isin(members & ids)
    size_in = int(inside.sum())
    size_out = int((words["segment_id"].isin(ids) & ~inside).sum())
    found = markers[markers["segment_id"].isin(ids)]
    rows = []
    for category, part in found.groupby("category", sort=True):
        n_in = int(part["segment_id"].isin(members).sum())
        n_out = len(part) - n_in
        rate_in = 1000 * n_in / size_in if size_in else float("nan")
        rate_out = 1000 * n_out / size_out if size_out else float("nan")
        rows.append(
            {
                "category": category,
                "in_theme": n_in,
                "per_1000_theme": rate_in,
                "per_1000_rest": rate_out,
                "ratio": rate_in / rate_out if rate_out else float("nan"),
            }
        )
    return rows


def actors(markers: pd.DataFrame, members: set[str], *, top: int = 6) -> list[dict]:
    inside = markers[(markers["category"] == "actor") & markers["segment_id"].isin(members)]
    counts = inside["lemma"].value_counts().head(top)
    return [{"actor": lemma, "mentions": int(n)} for lemma, n in counts.items()]


def first_mentions(segments: pd.DataFrame, members: set[str]) -> list[dict]:
    """Per recording: who raised the theme first, when, and how many participants took it up."""
    rows = []
    ordered = segments.sort_values(["recording_id", "segment_id"])
    for recording, turns in ordered.groupby("recording_id", sort=True):
        hits = turns[turns["segment_id"].isin(members)]
        if hits.empty:
            continue
        first = hits.iloc[0]
        later = hits.iloc[1:]
        taken_up = later[(later["role"] != "facilitator") & (later["speaker"] != first["speaker"])]
        rows.append(
            {
                "recording_id": recording,
                "segment_id": first["segment_id"],
                "speaker": first["speaker"],
                "role": first["role"],
                "time": clock(first["start"]),
                "taken_up_by": int(taken_up["speaker"].nunique()),
            }
        )
    return rows
