"""Theme prevalence for reports: how much, by how many people, and whether groups differ.

A theme is a codebook code; a segment carries it when coders applied it (or, before any human
coding, when a machine suggestion proposed it: the basis is always stated). A child code counts
for its parent theme too. Only participant turns count: the facilitator's questions are not a
group's view.

Per theme and group the report gives segments, seconds, **breadth** (distinct speakers) and the
share of the group's participant speaking time. Groups are compared on speakers, not segments:
each speaker's share of their own speaking time on the theme is one observation, so one
talkative participant weighs as one person. The test is a permutation test over speakers
(exact when the relabellings are few), with Cliff's delta as effect size.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook
from pipeline.config import ADJUDICATION

MACHINE = "machine suggestions"
HUMAN = "human codings"


@dataclass(frozen=True)
class Assignments:
    """Which segment carries which theme, and on what basis (human or machine)."""

    table: pd.DataFrame  # segment_id, code
    basis: str


def from_codings(codings: pd.DataFrame, book: Codebook) -> Assignments:
    """Human codes: the adjudicated codes where a segment was adjudicated, else any coder's."""
    coded = codings[(codings["status"] == "coded") & codings["in_codebook"]]
    settled = set(coded.loc[coded["coder"] == ADJUDICATION, "segment_id"])
    use = coded[(coded["coder"] == ADJUDICATION) | ~coded["segment_id"].isin(settled)][
        ["segment_id", "code"]
    ]
    return Assignments(rollup(use, book), HUMAN)


def from_suggestions(suggestions: pd.DataFrame, book: Codebook) -> Assignments:
    use = suggestions[suggestions["code"].isin(book.ids)][["segment_id", "code"]]
    return Assignments(rollup(use, book), MACHINE)


def rollup(pairs: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """Add every ancestor theme of each code, once per segment."""
    rows = set()
    for segment, code in pairs.itertuples(index=False):
        current = book.code(code)
        while current is not None:
            rows.add((segment, current.id))
            current = book.code(current.parent) if current.parent else None
    return pd.DataFrame(sorted(rows), columns=["segment_id", "code"])


def participant_segments(segments: pd.DataFrame) -> pd.DataFrame:
    seg = segments[segments["role"] != "facilitator"]
    return seg.assign(seconds=(seg["end"] - seg["start"]).clip(lower=0).fillna(0.0))


def prevalence(segments: pd.DataFrame, assigned: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """themes.csv: theme, group, segments, seconds, speakers, share (of participant time)."""
    seg = participant_segments(segments)
    totals = seg.groupby("group")["seconds"].sum()
    merged = assigned.merge(seg, on="segment_id")
    rows = []
    for code in book.ids:
        for group in sorted(seg["group"].unique()):
            part = merged[(merged["code"] == code) & (merged["group"] == group)]
            seconds = float(part["seconds"].sum())
            total = float(totals.get(group, 0.0))
            rows.append(
                {
                    "theme": code,
                    "group": group,
                    "segments": len(part),
                    "seconds": round(seconds, 3),
                    "speakers": part["speaker"].nunique(),
                    "share": seconds / total if total else float("nan"),
                }
            )
    return pd.DataFrame(
        rows, columns=["theme", "group", "segments", "seconds", "speakers", "share"]
    )


def speaker_shares(segments: pd.DataFrame, assigned: pd.DataFrame, code: str) -> pd.DataFrame:
    """Per participant: the share of their own speaking time spent on ``code`` (0 if never)."""
    seg = participant_segments(segments)
    on_theme = set(assigned.loc[assigned["code"] == code, "segment_id"])
    seg = seg.assign(on=seg["segment_id"].isin(on_theme) * seg["seconds"])
    per = seg.groupby(["group", "speaker"])[["on", "seconds"]].sum().reset_index()
    per["share"] = (per["on"] / per["seconds"]).where(per["seconds"] > 0, 0.0)
    return per[["group", "speaker", "share"]]


def cliffs_delta(a: np.ndarray, b: np.ndarray) -> float:
    """P(a > b) − P(a < b) over all pairs: −1..1, 0 when the groups overlap completely."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return float("nan")
    diff = a[:, None] - b[None, :]
    return float(((diff > 0).sum() - (diff < 0).sum()) / diff.size)


def permutation_test(
    a: np.ndarray, b: np.ndarray, *, rounds: int = 9999, seed: int = 0, exact_limit: int = 20000
) -> float:
    """Two-sided p-value for the difference in means, relabelling speakers between groups.

    Exact over all relabellings when there are at most ``exact_limit`` of them; otherwise
    ``rounds`` random ones, with the observed labelling counted (p never 0).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = np.concatenate([a, b])
    n, k = len(pooled), len(a)
    if not k or k == n:
        return float("nan")
    observed = abs(a.mean() - b.mean())
    total = pooled.sum()
    tolerance = 1e-12
    if math.comb(n, k) <= exact_limit:
        hits = count = 0
        for chosen in itertools.combinations(range(n), k):
            s = pooled[list(chosen)].sum()
            diff = abs(s / k - (total - s) / (n - k))
            hits += diff >= observed - tolerance
            count += 1
        return hits / count
    rng = np.random.default_rng(seed)
    hits = 1
    for _ in range(rounds):
        s = pooled[rng.permutation(n)[:k]].sum()
        hits += abs(s / k - (total - s) / (n - k)) >= observed - tolerance
    return hits / (rounds + 1)


def compare_groups(
    segments: pd.DataFrame, assigned: pd.DataFrame, book: Codebook, *, seed: int = 0
) -> pd.DataFrame:
    """Each theme, each pair of groups: mean speaker share, permutation p, Cliff's delta."""
    groups = sorted(participant_segments(segments)["group"].unique())
    rows = []
    for code in book.ids:
        shares = speaker_shares(segments, assigned, code)
        for g1, g2 in itertools.combinations(groups, 2):
            a = shares.loc[shares["group"] == g1, "share"].to_numpy()
            b = shares.loc[shares["group"] == g2, "share"].to_numpy()
            rows.append(
                {
                    "theme": code,
                    "group_a": g1,
                    "group_b": g2,
                    "speakers_a": len(a),
                    "speakers_b": len(b),
                    "mean_share_a": float(a.mean()) if len(a) else float("nan"),
                    "mean_share_b": float(b.mean()) if len(b) else float("nan"),
                    "p_value": permutation_test(a, b, seed=seed),
                    "cliffs_delta": cliffs_delta(a, b),
                }
            )
    return pd.DataFrame(rows)


def absent_themes(
    table: pd.DataFrame, book: Codebook, *, thin_segments: int = 3, thin_speakers: int = 2
) -> tuple[list[dict], list[dict]]:
    """Themes nobody raised, or too few (segments or speakers) to speak of a shared view; and
    research questions none of whose codes came up."""
    totals = table.groupby("theme").agg(segments=("segments", "sum"), speakers=("speakers", "sum"))
    themes = []
    for code in book.codes:
        segments = int(totals.loc[code.id, "segments"]) if code.id in totals.index else 0
        speakers = int(totals.loc[code.id, "speakers"]) if code.id in totals.index else 0
        if segments == 0:
            themes.append({"theme": code.id, "label": code.label, "status": "absent",
                           "segments": 0, "speakers": 0})  # fmt: skip
        elif segments < thin_segments or speakers < thin_speakers:
            themes.append({"theme": code.id, "label": code.label, "status": "thin",
                           "segments": segments, "speakers": speakers})  # fmt: skip
    present = {c for c in totals.index if totals.loc[c, "segments"] > 0}
    questions = []
    for question in book.research_questions:
        codes = [c.id for c in book.codes if question.id in c.research_questions]
        if not any(c in present for c in codes):
            questions.append({"id": question.id, "text": question.text, "codes": codes})
    return themes, questions
