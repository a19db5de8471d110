"""The report's grammar per theme and group: counts worked out by hand from the sentences.

Turns are the Frog fixture's (tests/frog_fixture.py, the sentences in test_grammar.py), put
in two groups and coded by two coders; only settled human codes of participant turns count.
"""

from __future__ import annotations

import pandas as pd
import pytest
from frog_fixture import frog_tokens

from pipeline.codebook import Codebook
from pipeline.core.config import StudyConfig
from pipeline.core.io import frame_of, read_csv, validate
from pipeline.core.schemas import CODINGS, GRAMMAR, SEGMENTS
from pipeline.report import recordings_table, render, speakers_table
from pipeline.report.section import ThemeInputs, compute_themes, write_themes

BOOK = Codebook.model_validate(
    {
        "study": "proef",
        "round": 1,
        "research_questions": [{"id": "rq1", "text": "Wie sluit wie uit?"}],
        "codes": [
            {
                "id": "uitsluiting",
                "label": "Uitsluiting",
                "description": "Mensen buiten sluiten.",
                "research_questions": ["rq1"],
            }
        ],
    }
)
# segment -> (group, speaker, role)
PEOPLE = {
    "g-0001": ("noord", "F01", "facilitator"),  # coded, but a facilitator: never counted
    "g-0002": ("noord", "P01", "participant"),
    "g-0003": ("noord", "P02", "participant"),
    "g-0007": ("noord", "P01", "participant"),
    "g-0008": ("noord", "P02", "participant"),  # only coder A: unresolved, not counted
    "g-0010": ("zuid", "P03", "participant"),
    "g-0012": ("zuid", "P04", "participant"),
    "g-0009": ("zuid", "P04", "participant"),  # not coded with the theme
}
BOTH = ["g-0001", "g-0002", "g-0003", "g-0007", "g-0010", "g-0012"]


def inputs(*, parser: bool = True, coded: bool = True) -> ThemeInputs:
    turns, tokens = frog_tokens(parser=parser)
    turns = turns[turns["segment_id"].isin(PEOPLE)].reset_index(drop=True)
    tokens = tokens[tokens["segment_id"].isin(PEOPLE)].reset_index(drop=True)
    people = pd.DataFrame.from_dict(PEOPLE, orient="index", columns=["group", "speaker", "role"])
    segments = turns.join(people, on="segment_id").assign(
        recording_id=lambda f: f["group"], source="test"
    )
    rows = [(s, c, "uitsluiting") for s in BOTH for c in ("A", "B")] + [
        ("g-0008", "A", "uitsluiting"),
        ("g-0008", "B", None),
        ("g-0009", "A", None),
        ("g-0009", "B", None),
    ]
    codings = pd.DataFrame(rows, columns=["segment_id", "coder", "code"])
    codings = codings.assign(
        task_id=range(len(codings)),
        status=["coded" if c else "empty" for c in codings["code"]],
    )
    suggestions = pd.DataFrame(
        {
            "segment_id": BOTH,
            "code": "uitsluiting",
            "score": 1.0,
            "source": "keyword",
            "evidence": "x",
            "codebook": "0",
        }
    )
    return ThemeInputs(
        round_no=1,
        book=BOOK,
        codebook="codebooks/proef/round-1.yaml",
        codebook_sha256="0" * 64,
        segments=frame_of(segments, SEGMENTS),
        tokens=tokens,
        codings=frame_of(codings, CODINGS, in_codebook=True, origin="labelstudio")
        if coded
        else None,
        suggestions=None if coded else suggestions,
    )


def study() -> StudyConfig:
    return StudyConfig(study="proef", groups=["noord", "zuid"])


def table(result) -> pd.DataFrame:
    return result.grammar.set_index(["group", "item"])


def test_grammar_per_theme_and_group_by_hand():
    result = compute_themes(inputs(), study())
    got = table(result)
    # noord's theme segments (settled, participants): g-0002 "Mensen worden uitgesloten." (3
    # words), g-0003 "Zij worden door de gemeente uitgesloten." (6), g-0007 "Wij moeten samen
    # een oplossing vinden." (6): 15 words. g-0001 is the facilitator's, g-0008 unresolved.
    # zuid's: g-0010 "Het besluit is genomen door de wethouder." (7), g-0012 "Ik denk dat
    # mensen uitgesloten worden." (6): 13 words.
    expected = {
        ("noord", "agentless passive"): (1, "g-0002"),
        ("noord", "passive with agent"): (1, "g-0003"),
        ("noord", "nominalisation"): (1, "g-0007"),  # oplossing
        ("noord", "modal: obligation"): (1, "g-0007"),  # moeten
        ("noord", "modal: volition"): (0, ""),  # 'willen' is in g-0008, not counted
        ("noord", "pronoun: us"): (1, "g-0007"),  # Wij
        ("noord", "pronoun: them"): (1, "g-0003"),  # Zij
        ("noord", "pronoun: self"): (0, ""),
        # agents: 'door de gemeente', Wij (moeten ... vinden); patients: Mensen, Zij (passive
        # subjects), oplossing (object)
        ("noord", "actor as agent"): (2, "g-0003; g-0007"),
        ("noord", "actor as patient"): (3, "g-0002; g-0003; g-0007"),
        ("zuid", "agentless passive"): (1, "g-0012"),  # mensen uitgesloten worden
        ("zuid", "passive with agent"): (1, "g-0010"),  # is genomen door de wethouder
        ("zuid", "nominalisation"): (0, ""),
        ("zuid", "modal: possibility"): (0, ""),  # 'kan' is in g-0009, not coded
        ("zuid", "pronoun: self"): (1, "g-0012"),  # Ik
        ("zuid", "pronoun: us"): (0, ""),
        # agents: 'door de wethouder', Ik (denk); patients: besluit (passive subject),
        # mensen (Frog parses it as the object of uitgesloten)
        ("zuid", "actor as agent"): (2, "g-0010; g-0012"),
        ("zuid", "actor as patient"): (2, "g-0010; g-0012"),
    }
    for key, (count, segments) in expected.items():
        row = got.loc[key]
        assert (row["count"], row["segments"]) == (count, segments), key
    assert set(got.loc["noord", "words"]) == {15} and set(got.loc["zuid", "words"]) == {13}
    assert got.loc[("noord", "agentless passive"), "per_1000"] == pytest.approx(1000 / 15)
    assert got.loc[("zuid", "actor as patient"), "per_1000"] == pytest.approx(2000 / 13)
    assert result.payload["grammar"]["note"] is None
    assert set(result.grammar["theme"]) == {"uitsluiting"}


def test_without_a_parser_the_section_says_so_and_shows_only_tag_findings(tmp_path):
    result = compute_themes(inputs(parser=False), study())
    got = table(result)
    assert not result.grammar["item"].str.startswith("actor").any()
    # the tag findings are the same numbers as with the parse
    assert got.loc[("noord", "agentless passive"), "count"] == 1
    assert got.loc[("zuid", "passive with agent"), "count"] == 1
    note = result.payload["grammar"]["note"]
    assert note.startswith("no dependency parser ran")
    section = write_themes(result, tmp_path)
    written = read_csv(tmp_path / "grammar.csv", GRAMMAR)
    expected = validate(result.grammar, GRAMMAR, where="grammar")
    pd.testing.assert_frame_equal(written, expected)
    segments = inputs().segments
    html = render(
        {
            "study": "proef", "round": 1, "quotes": False, "groups": ["noord", "zuid"],
            "recordings": recordings_table(segments, inputs().tokens),
            "speakers": speakers_table(segments, inputs().tokens),
            "share_of": "words", "topics": [], "themes": section, "max_topic": 1,
            "min_tokens": 4, "replacements": {}, "undiarised": [], "overlap": None,
            "provenance": {
                "pipeline_version": "0", "commit": "abc", "generated": "now", "nlp": {},
                "settings": "{}", "config_sha256": "x", "inputs": [],
            },
        }
    )  # fmt: skip
    assert "Grammar in the theme" in html and "agentless passive" in html
    assert "No dependency parser ran: subjects and actors" in html
    assert "actor as agent" not in html


def test_machine_suggestions_and_no_tagger_give_no_grammar_numbers():
    result = compute_themes(inputs(coded=False), study())
    assert result.grammar.empty
    assert "machine suggestions" in result.payload["grammar"]["note"]
    blank = inputs()
    tokens = blank.tokens.assign(pos=None, tag=None, morph=None, head=None, dep=None)
    result = compute_themes(ThemeInputs(**{**blank.__dict__, "tokens": tokens}), study())
    assert result.grammar.empty
    assert "no part-of-speech tagger ran" in result.payload["grammar"]["note"]
