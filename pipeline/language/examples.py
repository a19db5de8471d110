"""Which segments illustrate a topic, a candidate code or a theme: one rule for all of them.

A reader judges a theme by its examples, so examples must be typical of the theme *and* show
who talks about it. Sorting by a score alone fails both ways: with k-means every membership
probability is 1.0, so a stable sort returned the first segments in file order, and every
topic was illustrated by the first group's speakers only. The rule here (:data:`RULE`):

1. every candidate segment has a representativeness score (higher: more typical), e.g.
   :func:`centrality`; ties are broken by segment id, so the choice is reproducible;
2. groups take turns, the group whose best segment scores highest first; on its turn a group
   gives its highest-scoring segment from a speaker not shown yet;
3. a speaker appears a second time only once no group has a segment from a new speaker left;
   then the turns go round again without that restriction, until ``n`` are picked;
4. segments without a score (no words to compare) come last, by segment id.

So the first example is always the most typical segment of the theme, and the next ones cover
the other groups and speakers before any group or speaker is repeated.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp

RULE = (
    "most typical first (highest score), groups taking turns, one segment per speaker until "
    "no new speaker is left; ties by segment id"
)


def pick(candidates: pd.DataFrame, *, n: int) -> list[str]:
    """Up to ``n`` segment ids from ``candidates`` (``segment_id``, ``score``, ``group``,
    ``speaker``), in the order of :data:`RULE`.

    A segment listed more than once (several units of one segment) counts with its best score.
    Segments without a score (NaN: no words to compare) come only after every scored one, in
    segment id order.
    """
    if n <= 0 or candidates.empty:
        return []
    frame = candidates[["segment_id", "score", "group", "speaker"]].copy()
    # Round so that scores equal up to float noise tie, and the segment id decides.
    frame["rank_score"] = frame["score"].astype(float).round(9).fillna(-math.inf)
    frame = frame.sort_values(["rank_score", "segment_id"], ascending=[False, True], kind="stable")
    frame = frame.drop_duplicates("segment_id")
    scored = frame[frame["rank_score"] > -math.inf]
    picked = _turns(scored, n=n)
    unscored = sorted(set(frame["segment_id"]) - set(scored["segment_id"]))
    return picked + unscored[: n - len(picked)]


def _turns(frame: pd.DataFrame, *, n: int) -> list[str]:
    """Steps 2 and 3 of :data:`RULE` over ``frame``, sorted best first."""
    groups = list(dict.fromkeys(frame["group"]))  # ordered by each group's best segment
    queues = {g: list(part.itertuples(index=False)) for g, part in frame.groupby("group")}
    picked: list[str] = []
    shown: set[tuple[str, str]] = set()
    for new_speakers_only in (True, False):
        progress = True
        while progress and len(picked) < n:
            progress = False
            for group in groups:
                if len(picked) >= n:
                    break
                choice = next(
                    (
                        row
                        for row in queues[group]
                        if row.segment_id not in picked
                        and not (new_speakers_only and (group, row.speaker) in shown)
                    ),
                    None,
                )
                if choice is not None:
                    picked.append(choice.segment_id)
                    shown.add((group, choice.speaker))
                    progress = True
    return picked


def centrality(vectors, labels) -> np.ndarray:
    """Cosine similarity of each row of ``vectors`` to the centroid of the rows that share its
    label (dense or sparse; rows are scaled to unit length before averaging).

    The centroid of unit vectors points where the group's rows point on average, so the score
    says how typical a row is of its group. A zero row (no words) scores NaN: it is no example.
    """
    labels = np.asarray(labels)
    matrix = sp.csr_matrix(vectors, dtype=float)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    unit = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ matrix
    scores = np.full(len(labels), np.nan)
    for label in pd.unique(labels):
        rows = np.flatnonzero(labels == label)
        centroid = np.asarray(unit[rows].mean(axis=0)).ravel()
        size = np.linalg.norm(centroid)
        if size == 0:
            continue
        sims = np.asarray(unit[rows] @ (centroid / size)).ravel()
        scores[rows] = np.where(norms[rows] > 0, sims, np.nan)
    return scores
