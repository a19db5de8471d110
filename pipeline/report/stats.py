"""Group comparisons on speakers: an exact (or sampled) permutation test and Cliff's delta.

Groups in a workshop study are a handful of people each, so the unit of comparison is the
speaker, never the segment or the word: one talkative participant is one observation. With so
few observations a permutation test is the honest test (no distributional assumption), exact
when the relabellings are few enough to enumerate, and Cliff's delta is the effect size (the
probability that a speaker of one group scores higher than one of the other, minus the reverse).
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np


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
    ``rounds`` random ones, with the observed labelling counted (p never 0). NaN when a group
    is empty. Vectorised: a report runs hundreds of these.
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
        sums = pooled[_all_relabellings(n, k)].sum(axis=1)
        diffs = np.abs(sums / k - (total - sums) / (n - k))
        return float((diffs >= observed - tolerance).mean())
    sums = pooled[_sampled_relabellings(n, k, rounds, seed)].sum(axis=1)
    diffs = np.abs(sums / k - (total - sums) / (n - k))
    return float((1 + (diffs >= observed - tolerance).sum()) / (rounds + 1))


# The relabellings depend only on the group sizes (and the seed), not on the values: a report
# tests hundreds of items on the same speakers, so each set is drawn once and reused, read-only.
# The same arrays as drawing them anew, so every p-value is unchanged.


@lru_cache(maxsize=64)
def _all_relabellings(n: int, k: int) -> np.ndarray:
    """Every choice of ``k`` of ``n`` positions (rows in lexicographic order)."""
    chosen = np.array(list(itertools.combinations(range(n), k)), dtype=np.intp)
    chosen.setflags(write=False)
    return chosen


@lru_cache(maxsize=64)
def _sampled_relabellings(n: int, k: int, rounds: int, seed: int) -> np.ndarray:
    """``rounds`` random choices of ``k`` of ``n`` positions, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((rounds, n)), axis=1)[:, :k]
    order.setflags(write=False)
    return order
