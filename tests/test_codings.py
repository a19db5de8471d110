"""Coding basis rules (pipeline.codings.basis) on a two-coder fixture counted by hand.

Coders A and B code every participant segment; what each applied (after child codes roll up
into their parent "kloof"):

    segment  speaker  group        A                      B                         adjudication
    b-0      F01      burgers      china                  china                     (facilitator)
    b-1      P01      burgers      china                  china
    b-2      P01      burgers      china                  (no code)
    b-3      P01      burgers      havenots, kloof        cannots, kloof
    b-4      P02      burgers      china                  china, vertrouwen
    d-1      P03      deskundigen  havenots, kloof        (skipped)
    d-2      P03      deskundigen  china                  havenots, kloof           havenots, kloof
    d-3      P04      deskundigen  (no code)              china
"""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import word_tokens
from test_themes import SEGMENTS as THEME_SEGMENTS

from pipeline.codebook import Codebook
from pipeline.codings.basis import Basis, parse_basis, settle
from pipeline.core.errors import CdaError
from pipeline.core.io import frame_of
from pipeline.core.schemas import CODINGS
from pipeline.report.themes import compare_groups, from_codings, prevalence, speaker_shares

BOOK = Codebook.model_validate(
    {
        "study": "proef",
        "round": 1,
        "codes": [
            {"id": "china", "label": "China", "description": "d"},
            {"id": "kloof", "label": "Kloof", "description": "d"},
            {"id": "havenots", "label": "Have-nots", "description": "d", "parent": "kloof"},
            {"id": "cannots", "label": "Cannots", "description": "d", "parent": "kloof"},
            {"id": "vertrouwen", "label": "Vertrouwen", "description": "d"},
        ],
    }
)
SEGMENTS = THEME_SEGMENTS  # the same turns, times and speakers as tests/test_themes.py
TOKENS = word_tokens(SEGMENTS)

CODED = "coded"
ROWS = [
    ("b-0", "A", "china", CODED), ("b-0", "B", "china", CODED),
    ("b-1", "A", "china", CODED), ("b-1", "B", "china", CODED),
    ("b-2", "A", "china", CODED), ("b-2", "B", None, "empty"),
    ("b-3", "A", "havenots", CODED), ("b-3", "B", "cannots", CODED),
    ("b-4", "A", "china", CODED), ("b-4", "B", "china", CODED), ("b-4", "B", "vertrouwen", CODED),
    ("d-1", "A", "havenots", CODED), ("d-1", "B", None, "skipped"),
    ("d-2", "A", "china", CODED), ("d-2", "B", "havenots", CODED),
    ("d-2", "adjudication", "havenots", CODED),
    ("d-3", "A", None, "empty"), ("d-3", "B", "china", CODED),
]  # fmt: skip


def codings(rows: list[tuple] = ROWS) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["segment_id", "coder", "code", "status"])
    frame["task_id"] = range(len(frame))
    return frame_of(frame, CODINGS, in_codebook=True, origin="labelstudio")


def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["segment_id"], frame["code"], strict=True))


UNRESOLVED = {
    ("b-2", "china"), ("b-3", "havenots"), ("b-3", "cannots"), ("b-4", "vertrouwen"),
    ("d-3", "china"),
}  # fmt: skip


def test_settled_takes_the_adjudication_else_what_every_coder_of_the_segment_applied():
    result = settle(codings(), Basis("settled"), book=BOOK)
    assert pairs(result.table) == {
        ("b-0", "china"), ("b-1", "china"),  # both coders
        ("b-3", "kloof"),  # different sub-codes, one theme
        ("b-4", "china"),
        ("d-1", "havenots"), ("d-1", "kloof"),  # only A coded it (B skipped)
        ("d-2", "havenots"), ("d-2", "kloof"),  # adjudicated
    }  # fmt: skip
    assert pairs(result.unresolved) == UNRESOLVED
    assert result.single_coded == {"d-1"}
    assert result.coders == ("A", "B")


def test_union_intersection_and_one_coder_by_hand():
    union = settle(codings(), Basis("union"), book=BOOK)
    assert pairs(union.table) == {
        ("b-0", "china"), ("b-1", "china"), ("b-2", "china"),
        ("b-3", "havenots"), ("b-3", "cannots"), ("b-3", "kloof"),
        ("b-4", "china"), ("b-4", "vertrouwen"),
        ("d-1", "havenots"), ("d-1", "kloof"),
        ("d-2", "china"), ("d-2", "havenots"), ("d-2", "kloof"),  # adjudication not consulted
        ("d-3", "china"),
    }  # fmt: skip
    both = settle(codings(), Basis("intersection"), book=BOOK)
    # d-1: B skipped it, so not every coder of the round applied anything there
    assert pairs(both.table) == {("b-0", "china"), ("b-1", "china"), ("b-3", "kloof"),
                                 ("b-4", "china")}  # fmt: skip
    b = settle(codings(), parse_basis("coder:B"), book=BOOK)
    assert pairs(b.table) == {
        ("b-0", "china"), ("b-1", "china"), ("b-3", "cannots"), ("b-3", "kloof"),
        ("b-4", "china"), ("b-4", "vertrouwen"), ("d-2", "havenots"), ("d-2", "kloof"),
        ("d-3", "china"),
    }  # fmt: skip
    # whatever the rule, the same disagreements are unresolved
    assert pairs(union.unresolved) == pairs(b.unresolved) == UNRESOLVED


def test_without_a_codebook_codes_stay_as_coded():
    result = settle(codings(), Basis("settled"))
    assert ("b-3", "kloof") not in pairs(result.table)  # no roll-up
    assert {("b-3", "havenots"), ("b-3", "cannots")} <= pairs(result.unresolved)


def test_prevalence_under_each_rule_by_hand():
    def table(rule: str) -> pd.DataFrame:
        assigned = from_codings(codings(), BOOK, parse_basis(rule))
        return prevalence(
            SEGMENTS, assigned.table, BOOK, tokens=TOKENS, unresolved=assigned.unresolved
        ).set_index(["theme", "group"])

    settled = table("settled")
    # china, burgers: b-1 (10 s) and b-4 (20 s) of 50 s; P01, P02; b-2 unresolved
    assert settled.loc[("china", "burgers"), ["segments", "seconds", "speakers"]].tolist() == [
        2, 30.0, 2,
    ]  # fmt: skip
    assert settled.loc[("china", "burgers"), "share"] == pytest.approx(0.6)
    assert settled.loc[("china", "burgers"), "unresolved"] == 1
    # china, deskundigen: nothing agreed; d-3 unresolved (d-2 was adjudicated away)
    assert settled.loc[("china", "deskundigen"), ["segments", "unresolved"]].tolist() == [0, 1]
    assert settled.loc[("kloof", "deskundigen"), ["segments", "speakers"]].tolist() == [2, 1]
    assert settled.loc[("cannots", "burgers"), ["segments", "unresolved"]].tolist() == [0, 1]
    union = table("union")
    # the pooled reading: b-1, b-2, b-4 (40 s) and d-2, d-3 (40 s) from P03 and P04
    assert union.loc[("china", "burgers"), ["segments", "seconds", "speakers"]].tolist() == [
        3, 40.0, 2,
    ]  # fmt: skip
    assert union.loc[("china", "deskundigen"), ["segments", "speakers"]].tolist() == [2, 2]
    coder_b = table("coder:B")
    assert coder_b.loc[("china", "deskundigen"), ["segments", "seconds"]].tolist() == [1, 30.0]
    assert table("intersection").loc[("kloof", "deskundigen"), "segments"] == 0


def test_speaker_level_comparison_by_hand_and_no_result_for_an_absent_theme():
    assigned = from_codings(codings(), BOOK).table
    shares = speaker_shares(SEGMENTS, assigned, "china", tokens=TOKENS)
    # P01: b-1 is 10 of P01's 30 s; P02: all of 20 s; P03 and P04: nothing agreed
    assert shares.set_index("speaker")["share"].to_dict() == pytest.approx(
        {"P01": 1 / 3, "P02": 1.0, "P03": 0.0, "P04": 0.0}
    )
    rows = compare_groups(SEGMENTS, assigned, BOOK, tokens=TOKENS).set_index("theme")
    china = rows.loc["china"]
    # 6 ways to split {1/3, 1, 0, 0} in two pairs; only the observed split and its mirror
    # reach |2/3 - 0| = 2/3, so p = 2/6; every burgers speaker beats every expert: delta 1
    assert china["p_value"] == pytest.approx(2 / 6)
    assert china["cliffs_delta"] == 1.0
    # vertrouwen: no agreed segment anywhere; all-zero shares are not "p = 1, delta = 0"
    assert pd.isna(rows.loc["vertrouwen", "p_value"])
    assert pd.isna(rows.loc["vertrouwen", "cliffs_delta"])


@pytest.mark.parametrize("value", ["pooled", "coder:", "coders:A"])
def test_unknown_rules_are_refused(value: str):
    with pytest.raises(CdaError, match="coding_basis"):
        parse_basis(value)


def test_a_coder_without_codings_is_refused_with_the_known_coders():
    with pytest.raises(CdaError, match="'C'") as err:
        settle(codings(), parse_basis("coder:C"), book=BOOK)
    assert "A, B" in err.value.hint


def test_a_pair_of_groups_that_never_raised_the_theme_has_no_comparison():
    # a third group whose only speaker P05 never raised china, and P06 who has no time at all
    third = pd.DataFrame(
        [
            ("e-1", "ouderen", "P05", "participant", 0, 40),
            ("e-2", "ouderen", "P06", "participant", 40, 40),
        ],
        columns=["segment_id", "group", "speaker", "role", "start", "end"],
    ).assign(text="Iets anders.")
    segments = pd.concat([SEGMENTS, third], ignore_index=True)
    tokens = word_tokens(segments)
    assigned = from_codings(codings(), BOOK).table
    rows = compare_groups(segments, assigned, BOOK, tokens=tokens)
    china = rows[rows["theme"] == "china"].set_index(["group_a", "group_b"])
    # burgers raised it: against the elderly that is a result. Shares 1/3, 1 | 0: of the 3
    # splits, the observed one (|2/3 - 0|) and {1/3, 0 | 1} (|1/6 - 1| = 5/6) reach 2/3,
    # {1, 0 | 1/3} (1/6) does not: p = 2/3 ...
    assert china.loc[("burgers", "ouderen"), "p_value"] == pytest.approx(2 / 3)
    # ... but experts and the elderly both never did: nothing to compare, not "p = 1, δ = 0"
    assert pd.isna(china.loc[("deskundigen", "ouderen"), "p_value"])
    assert pd.isna(china.loc[("deskundigen", "ouderen"), "cliffs_delta"])
    # P06 spoke for 0 s: no share, so not an observation (P05 is the elderly's only one)
    assert china.loc[("burgers", "ouderen"), "speakers_b"] == 1
    shares = speaker_shares(segments, assigned, "china", tokens=tokens).set_index("speaker")
    assert pd.isna(shares.loc["P06", "share"]) and shares.loc["P05", "share"] == 0.0


def test_facilitator_disagreements_are_not_unresolved_themes():
    from pipeline.report.themes import only_participants

    rows = [r for r in ROWS if r[0] != "b-0"] + [
        ("b-0", "A", "china", CODED), ("b-0", "B", None, "empty"),
    ]  # fmt: skip
    assigned = from_codings(codings(rows), BOOK)
    assert ("b-0", "china") in pairs(assigned.unresolved)
    kept = only_participants(assigned, SEGMENTS)
    assert pairs(kept.unresolved) == UNRESOLVED  # the facilitator's b-0 is gone
    assert kept.single_coded == {"d-1"}


def test_cda_yaml_refuses_the_adjudication_as_a_coding_basis(tmp_path):
    from pipeline.core.config import load_config
    from pipeline.core.paths import Workspace

    ws = Workspace.at(tmp_path)
    ws.config_file.write_text(
        "study: s\ngroups: [a]\nreport:\n  coding_basis: coder:adjudication\n", encoding="utf-8"
    )
    with pytest.raises(CdaError, match="coding_basis"):
        load_config(ws)
