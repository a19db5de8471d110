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


def tfidf_rows(rows: np.ndarray, terms: np.ndarray, n_rows: int) -> sp.csr_matrix:
    """TF-IDF of counted terms, exactly as scikit-learn's ``TfidfVectorizer`` defaults give it.

    ``rows[i]`` is the document (0 .. ``n_rows`` - 1) of the i-th occurrence of ``terms[i]``.
    tf = count, idf = ln((1 + n) / (1 + df)) + 1, each row scaled to unit length; columns are
    the terms in sorted order. The same operations in the same order as scikit-learn 1.x
    (so the same floats, which a test checks against it), without importing it: that import
    alone cost the report more than a second.
    """
    # scikit-learn numbers terms as first seen (documents in order), sorts each row's entries
    # by that number, then renumbers the columns alphabetically without re-sorting the rows:
    # the entries' order decides the order of the sums below, so it is kept
    order = np.argsort(np.asarray(rows, dtype=np.int64), kind="stable")
    seen, firsts = pd.factorize(np.asarray(terms, dtype=object)[order])
    _, alphabetical = np.unique(np.asarray(firsts, dtype=object), return_inverse=True)
    width = len(firsts)
    pairs, counts = np.unique(
        np.asarray(rows, dtype=np.int64)[order] * width + seen, return_counts=True
    )
    doc, first = np.divmod(pairs, width)
    col = alphabetical.ravel()[first]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=n_rows), out=indptr[1:])
    df = np.bincount(col, minlength=width).astype(np.float64)
    df += 1.0
    idf = np.full_like(df, fill_value=n_rows + 1)
    idf /= df
    np.log(idf, out=idf)
    idf += 1.0
    data = counts.astype(np.float64)
    data *= idf[col]
    # the row norms summed left to right, as scikit-learn's l2 normalisation does (a cumulative
    # sum over a zero-padded grid: numpy's own sums are pairwise, which can differ in the last bit)
    lengths = np.diff(indptr)
    grid = np.zeros((n_rows, int(lengths.max(initial=0)) + 1))
    grid[doc, np.arange(len(doc)) - indptr[doc]] = data * data
    norms = np.sqrt(np.cumsum(grid, axis=1)[:, -1])
    per_entry = norms[doc]
    data = np.divide(data, per_entry, out=data, where=per_entry > 0)
    return sp.csr_matrix((data, col, indptr), shape=(n_rows, width))


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
