"""Framing evidence per theme: markers against the baseline, actors, first mentions, key words."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import word_tokens

from pipeline.framing import actors, first_mentions, key_lemmas, marker_rates

SEGMENTS = pd.DataFrame(
    [
        ("r-0000", "r", "F01", "facilitator", 0.0, 5.0, "Wat vinden jullie van China?"),
        ("r-0001", "r", "P01", "participant", 5.0, 9.0, "Wij vrezen China en de staat daar."),
        ("r-0002", "r", "P02", "participant", 9.0, 12.0, "Misschien valt het mee met China."),
        ("r-0003", "r", "P01", "participant", 12.0, 20.0, "De gemeente moet ons helpen thuis."),
        ("r-0004", "r", "P03", "participant", 20.0, 24.0, "China kijkt mee, wij niet."),
    ],
    columns=["segment_id", "recording_id", "speaker", "role", "start", "end", "text"],
).assign(group="burgers")


def markers(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["segment_id", "category", "marker", "lemma"])


MARKERS = markers(
    [
        ("r-0001", "ingroup", "wij", "wij"),
        ("r-0001", "actor", "staat", "staat"),
        ("r-0002", "hedging", "misschien", "misschien"),
        ("r-0003", "ingroup", "ons", "ons"),
        ("r-0003", "actor", "gemeente", "gemeente"),
        ("r-0004", "ingroup", "wij", "wij"),
    ]
)
CHINA = {"r-0000", "r-0001", "r-0002", "r-0004"}


def test_first_mention_names_the_facilitator_and_counts_who_took_it_up():
    (first,) = first_mentions(SEGMENTS, CHINA)
    assert first == {
        "recording_id": "r", "segment_id": "r-0000", "speaker": "F01",
        "role": "facilitator", "time": "0:00:00", "taken_up_by": 3,
    }  # fmt: skip
    (later,) = first_mentions(SEGMENTS, {"r-0002", "r-0004"})
    assert (later["speaker"], later["taken_up_by"]) == ("P02", 1)


def test_marker_rates_compare_the_theme_with_the_other_participant_talk():
    tokens = word_tokens(SEGMENTS)
    participants = SEGMENTS[SEGMENTS["role"] != "facilitator"]
    rates = {r["category"]: r for r in marker_rates(tokens, MARKERS, participants, CHINA)}
    # words (no punctuation): r-0001 7, r-0002 6, r-0004 5 -> 18 inside; r-0003 6 outside
    assert rates["ingroup"]["in_theme"] == 2
    assert rates["ingroup"]["per_1000_theme"] == pytest.approx(1000 * 2 / 18)
    assert rates["ingroup"]["per_1000_rest"] == pytest.approx(1000 * 1 / 6)
    assert rates["ingroup"]["ratio"] == pytest.approx((2 / 18) / (1 / 6))
    assert rates["hedging"]["per_1000_rest"] == 0 and pd.isna(rates["hedging"]["ratio"])


def test_actors_inside_the_theme_only():
    assert actors(MARKERS, CHINA) == [{"actor": "staat", "mentions": 1}]


def test_key_lemmas_are_overused_in_the_theme_by_several_speakers():
    tokens = word_tokens(SEGMENTS)
    participants = SEGMENTS[SEGMENTS["role"] != "facilitator"]
    found = key_lemmas(tokens, participants, CHINA)
    assert found[0]["lemma"] == "china" and found[0]["log_ratio"] > 0
    assert key_lemmas(tokens, participants, set()) == []
