"""Framing evidence per theme: markers against the baseline, actors, first mentions, key words."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from helpers import word_tokens

from pipeline.report.framing import (
    Talk,
    contrasts,
    first_mentions,
    group_actors,
    group_key_words,
    group_markers,
    key_lemmas,
    marker_rates,
)

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
    talk = Talk.of(SEGMENTS, word_tokens(SEGMENTS))  # the facilitator's turn is left out
    rates = {r["category"]: r for r in marker_rates(talk, MARKERS, CHINA)}
    # words (no punctuation): r-0001 7, r-0002 6, r-0004 5 -> 18 inside; r-0003 6 outside
    assert rates["ingroup"]["in_theme"] == 2
    assert rates["ingroup"]["per_1000_theme"] == pytest.approx(1000 * 2 / 18)
    assert rates["ingroup"]["per_1000_rest"] == pytest.approx(1000 * 1 / 6)
    assert rates["ingroup"]["ratio"] == pytest.approx((2 / 18) / (1 / 6))
    assert rates["hedging"]["per_1000_rest"] == 0 and pd.isna(rates["hedging"]["ratio"])


def test_key_lemmas_are_overused_in_the_theme_by_several_speakers():
    talk = Talk.of(SEGMENTS, word_tokens(SEGMENTS))
    found = key_lemmas(talk, CHINA)
    assert found[0]["lemma"] == "china" and found[0]["log_ratio"] > 0
    assert key_lemmas(talk, set()) == []


# per group and contrasts ----------------------------------------------------------------------
# Two groups talk about China; b-3 and d-3 are outside the theme.
#   segment  group        speaker  words  content words (no fillers like moeten, misschien)
#   b-1      burgers      P01      4      wij vrezen china toezicht
#   b-2      burgers      P02      5      zij china toezicht stoppen
#   d-1      deskundigen  P03      3      china investeert veel
#   d-2      deskundigen  P04      5      wij china volgen
GROUPS = pd.DataFrame(
    [
        ("b-1", "burgers", "P01", "Wij vrezen China toezicht."),
        ("b-2", "burgers", "P02", "Zij moeten China toezicht stoppen."),
        ("b-3", "burgers", "P01", "Het weer is mooi."),
        ("d-1", "deskundigen", "P03", "China investeert veel."),
        ("d-2", "deskundigen", "P04", "Misschien moeten wij China volgen."),
        ("d-3", "deskundigen", "P03", "De gemeente helpt."),
    ],
    columns=["segment_id", "group", "speaker", "text"],
).assign(role="participant", recording_id=lambda f: f["group"], start=None, end=None)
THEME = {"b-1", "b-2", "d-1", "d-2"}
GROUP_MARKERS = markers(
    [
        ("b-1", "ingroup", "wij", "wij"), ("b-1", "actor", "china", "china"),
        ("b-2", "outgroup", "zij", "zij"), ("b-2", "modality", "moeten", "moeten"),
        ("b-2", "actor", "china", "china"),
        ("d-1", "actor", "china", "china"),
        ("d-2", "hedging", "misschien", "misschien"), ("d-2", "modality", "moeten", "moeten"),
        ("d-2", "ingroup", "wij", "wij"), ("d-2", "actor", "china", "china"),
        ("d-3", "actor", "gemeente", "gemeente"),
    ]
)  # fmt: skip


def test_marker_rates_per_group_inside_the_theme_and_outside_it():
    rows = group_markers(Talk.of(GROUPS, word_tokens(GROUPS)), GROUP_MARKERS, THEME)
    by = {(r["group"], r["category"]): r for r in rows}
    # burgers: 4 + 5 = 9 words in the theme, b-3 has 4 outside it
    assert by[("burgers", "actor")] == {
        "group": "burgers", "category": "actor", "count": 2, "words": 9,
        "per_1000": pytest.approx(2000 / 9), "speakers": 2, "per_1000_rest": 0.0,
    }  # fmt: skip
    assert (by[("burgers", "hedging")]["count"], by[("burgers", "hedging")]["speakers"]) == (0, 0)
    # deskundigen: 3 + 5 = 8 words inside; "gemeente" in d-3 (3 words) is outside the theme
    assert by[("deskundigen", "actor")]["per_1000"] == pytest.approx(250.0)
    assert by[("deskundigen", "actor")]["per_1000_rest"] == pytest.approx(1000 / 3)
    assert len(rows) == 2 * 5  # every category for both groups, zeros included


def test_actors_and_key_words_per_group():
    talk = Talk.of(GROUPS, word_tokens(GROUPS))
    actors_by_group = group_actors(talk, GROUP_MARKERS, THEME)
    assert actors_by_group == {
        "burgers": [{"actor": "china", "mentions": 2, "speakers": 2}],
        "deskundigen": [{"actor": "china", "mentions": 2, "speakers": 2}],  # not gemeente
    }
    words = group_key_words(talk, THEME)
    # burgers overuse "toezicht" (2 of 8 content words, 2 speakers; experts 0 of 6):
    # E1 = 8 * 2 / 14, G2 = 2 * 2 ln(2 / E1) = 4 ln(7/4)
    assert [k["lemma"] for k in words["burgers"]] == ["toezicht"]
    assert words["burgers"][0]["g2"] == round(4 * math.log(7 / 4), 1)
    # "china": 2 of 6 content words among experts against 2 of 8: overused there
    assert [k["lemma"] for k in words["deskundigen"]] == ["china"]
    burgers = GROUPS[GROUPS["group"] == "burgers"]
    assert group_key_words(Talk.of(burgers, word_tokens(burgers)), THEME) == {}


def test_contrasts_give_counts_rates_effect_size_and_a_test_over_speakers():
    rows = contrasts(Talk.of(GROUPS, word_tokens(GROUPS)), GROUP_MARKERS, THEME)
    by = {(r["kind"], r["item"]): r for r in rows}
    out = by[("marker", "outgroup")]
    assert (out["group_a"], out["group_b"]) == ("burgers", "deskundigen")
    assert [out[k] for k in ("count_a", "count_b", "size_a", "size_b")] == [1, 0, 9, 8]
    assert [out[k] for k in ("users_a", "users_b", "speakers_a", "speakers_b")] == [1, 0, 2, 2]
    assert out["log_ratio"] == pytest.approx(math.log2((1 / 9) / (0.5 / 8)))  # Hardie's 0.5
    assert out["g2"] == pytest.approx(2 * math.log(17 / 9))  # E1 = 9 * 1 / 17
    # speakers' own rates: P01 0, P02 1000/5 | P03 0, P04 0; every split of the four is as
    # extreme (|100 - 0|), so p = 1; delta = (2 wins - 0 losses) / 4 pairs
    assert out["p_value"] == pytest.approx(1.0)
    assert out["cliffs_delta"] == pytest.approx(0.5)
    ingroup = by[("marker", "ingroup")]
    assert ingroup["per_1000_a"] == pytest.approx(1000 / 9)
    assert ingroup["per_1000_b"] == pytest.approx(1000 / 8)
    assert ingroup["cliffs_delta"] == pytest.approx(0.25)  # 250 > 0, 250 > 200, 0 = 0, 0 < 200
    watch = by[("word", "toezicht")]
    assert [watch[k] for k in ("count_a", "count_b", "size_a", "size_b")] == [2, 0, 8, 6]
    # per 1,000 content words: P01 250, P02 250 | P03 0, P04 0: only the observed split and
    # its mirror reach |250 - 0|: p = 2/6; every burger above every expert: delta = 1
    assert watch["p_value"] == pytest.approx(2 / 6)
    assert watch["cliffs_delta"] == 1.0
    assert watch["log_ratio"] == pytest.approx(math.log2(3))
    assert ("word", "china") in by
    # markers first, strongest first
    kinds = [r["kind"] for r in rows]
    assert kinds == sorted(kinds)
    marker_g2 = [r["g2"] for r in rows if r["kind"] == "marker"]
    assert marker_g2 == sorted(marker_g2, reverse=True)


def test_no_contrast_with_one_group():
    one = GROUPS[GROUPS["group"] == "burgers"]
    assert contrasts(Talk.of(one, word_tokens(one)), GROUP_MARKERS, THEME) == []


def test_a_pair_of_groups_that_never_used_a_marker_gets_no_row_for_it():
    third = pd.DataFrame(
        [("e-1", "ouderen", "P05", "China is ver weg.")],
        columns=["segment_id", "group", "speaker", "text"],
    ).assign(role="participant", recording_id="ouderen", start=None, end=None)
    three = pd.concat([GROUPS, third], ignore_index=True)
    rows = contrasts(Talk.of(three, word_tokens(three)), GROUP_MARKERS, THEME | {"e-1"})
    # outgroup occurs only among burgers (b-2): the experts/elderly pair has no such row
    pairs = {(r["group_a"], r["group_b"]) for r in rows if r["item"] == "outgroup"}
    assert pairs == {("burgers", "deskundigen"), ("burgers", "ouderen")}
    assert all(r["count_a"] or r["count_b"] for r in rows)
