"""Example selection (issue 15, §7): most typical first, spread over groups and speakers.

Every case is built so that file order (what a stable sort on k-means' all-1.0 probabilities
gave) or length order (what the report used) would show one group only.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import word_tokens

from pipeline.core.schemas import SEGMENTS
from pipeline.language.corpus import content_mask
from pipeline.language.examples import centrality, pick
from pipeline.report.themes import representatives, theme_centrality


def candidates(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["segment_id", "group", "speaker", "score"])


# In file order: burgers first, so the first three are all burgers (two of them from P1).
SIX = candidates(
    [
        ("a1", "burgers", "P1", 0.90),
        ("a2", "burgers", "P1", 0.85),
        ("a3", "burgers", "P2", 0.60),
        ("b1", "deskundigen", "P3", 0.80),
        ("b2", "deskundigen", "P3", 0.70),
        ("b3", "deskundigen", "P4", 0.50),
    ]
)


def test_pick_by_hand_spreads_over_groups_then_speakers() -> None:
    # Groups by their best score: burgers (a1 .90) before deskundigen (b1 .80).
    # Turn 1: burgers → a1 (P1), deskundigen → b1 (P3).
    # Turn 2: burgers' best from a new speaker is a3 (P2; a2 is P1 again), deskundigen → b3 (P4).
    # No group has a new speaker left: turns again without that rule: a2, then b2.
    assert pick(SIX, n=3) == ["a1", "b1", "a3"]
    assert pick(SIX, n=5) == ["a1", "b1", "a3", "b3", "a2"]
    assert pick(SIX, n=9) == ["a1", "b1", "a3", "b3", "a2", "b2"]
    assert pick(SIX, n=0) == []
    # file order would have given a1, a2, a3: one group, one speaker twice


def test_pick_starts_with_the_group_holding_the_most_typical_segment() -> None:
    lifted = SIX.assign(score=SIX["score"].where(SIX["segment_id"] != "b2", 0.95))
    # b2 (.95) is now the best: deskundigen go first, then burgers' a1; then P4 and P2.
    assert pick(lifted, n=4) == ["b2", "a1", "b3", "a3"]


def test_pick_ties_break_by_segment_id_and_missing_scores_rank_last() -> None:
    tied = candidates(
        [
            ("s3", "g", "P1", 0.5),
            ("s1", "g", "P2", 0.5),
            ("s2", "g", "P3", 0.5 + 1e-12),  # float noise is a tie
            ("s0", "g", "P4", float("nan")),
        ]
    )
    assert pick(tied, n=4) == ["s1", "s2", "s3", "s0"]
    # a segment listed twice (two units) counts once, with its best score
    twice = candidates([("s1", "g", "P1", 0.2), ("s1", "g", "P1", 0.9), ("s2", "g", "P2", 0.5)])
    assert pick(twice, n=3) == ["s1", "s2"]


def test_centrality_by_hand() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0], [0.0, 0.0], [0.0, 3.0]])
    labels = np.array([0, 0, 0, 0, 1])
    # label 0: unit rows (1,0), (.7071,.7071), (1,0) and a zero row (no direction).
    # centroid = ((1 + .7071 + 1 + 0) / 4, .7071 / 4) = (.67678, .17678), |c| = .69949
    # cos((1,0), c) = .67678 / .69949 = .96753; cos((.7071,.7071), c) = .7071 * .85355 / .69949
    # = .86286; the zero row has no similarity (NaN). Label 1 alone: 1.
    scores = centrality(vectors, labels)
    assert scores[[0, 1, 2, 4]] == pytest.approx([0.96753, 0.86286, 0.96753, 1.0], abs=1e-5)
    assert math.isnan(scores[3])


# themes: TF-IDF centrality over the theme's participant segments -----------------------------

# (id, group, speaker, role, start, end, text). Burgers talk longest, so "longest first, one
# per speaker" (the report's old rule) showed b-1, b-2, b-3: burgers only.
THEME = [
    ("b-0", "burgers", "F01", "facilitator", 0, 60, "china camera"),
    ("b-1", "burgers", "P01", "participant", 60, 90, "china china china camera"),
    ("b-2", "burgers", "P02", "participant", 90, 110, "china china camera"),
    ("b-3", "burgers", "P03", "participant", 110, 125, "china china china china camera trein"),
    ("d-1", "deskundigen", "P04", "participant", 0, 5, "china camera"),
    ("d-2", "deskundigen", "P05", "participant", 5, 9, "china camera camera"),
    ("d-3", "deskundigen", "P05", "participant", 9, 30, "trein trein trein"),  # not in theme
]


@pytest.fixture
def theme_segments() -> pd.DataFrame:
    frame = pd.DataFrame(
        [dict(zip(["segment_id", "group", "speaker", "role", "start", "end", "text"], row,
                  strict=True)) for row in THEME]
    )  # fmt: skip
    frame["recording_id"] = frame["group"]
    frame["source"] = "test"
    return frame.reindex(columns=SEGMENTS.names)  # columns not set here (overlap) stay empty


def assigned() -> pd.DataFrame:
    ids = ["b-0", "b-1", "b-2", "b-3", "d-1", "d-2"]
    return pd.DataFrame({"segment_id": ids, "code": "china"})


def content_of(segments: pd.DataFrame) -> pd.DataFrame:
    """Content tokens (segment_id, lemma), as the report's Talk.content holds them."""
    tokens = word_tokens(segments)
    return tokens[content_mask(tokens)]


def test_theme_centrality_by_hand(theme_segments: pd.DataFrame) -> None:
    content = content_of(theme_segments)
    ids = ["b-1", "b-2", "b-3", "d-1", "d-2"]  # the theme's participant segments (not b-0)
    # n = 5 segments; china and camera occur in all: idf = ln(6/6) + 1 = 1; trein only in b-3:
    # idf = ln(6/2) + 1 = 2.09861 (d-3, outside the theme, does not count).
    # rows (china, camera, trein) scaled to length 1:
    #   b-1 (3,1,0)/3.16228 = (.94868,.31623,0)    b-2 (2,1,0)/2.23607 = (.89443,.44721,0)
    #   b-3 (4,1,2.09861)/4.62646 = (.86459,.21615,.45361)
    #   d-1 (1,1,0)/1.41421 = (.70711,.70711,0)    d-2 (1,2,0)/2.23607 = (.44721,.89443,0)
    # centroid = (.77240, .51623, .09072), length .93345 → unit (.82747, .55303, .09719)
    # cosines: b-1 .95989, b-2 .98744, b-3 .87905, d-1 .97617, d-2 .86470
    scores = theme_centrality(content, ids)
    assert scores[ids].tolist() == pytest.approx(
        [0.95989, 0.98744, 0.87905, 0.97617, 0.86470], abs=1e-4
    )


def test_report_representatives_most_central_first_and_both_groups(theme_segments) -> None:
    content = content_of(theme_segments)
    reps = representatives(theme_segments, assigned(), "china", content=content, quotes=False)
    # Most central b-2 (.98744, burgers); deskundigen's best d-1 (.97617); burgers' next new
    # speaker b-1 (.95989). The facilitator's b-0 is never an example.
    assert [r["segment_id"] for r in reps] == ["b-2", "d-1", "b-1"]
    assert [r["centrality"] for r in reps] == pytest.approx([0.98744, 0.97617, 0.95989], abs=1e-4)
    assert reps[0]["speaker"] == "P02" and reps[0]["text"] is None


def test_a_theme_segment_without_content_words_comes_last(theme_segments) -> None:
    frame = theme_segments.copy()
    frame.loc[frame["segment_id"] == "d-1", "text"] = "ja ja"  # "ja" is a spoken filler
    reps = representatives(frame, assigned(), "china", content=content_of(frame), quotes=False, n=5)
    assert reps[-1]["segment_id"] == "d-1" and reps[-1]["centrality"] is None
    assert reps[1]["segment_id"] == "d-2"  # deskundigen's turn goes to its scored segment
