"""Discourse markers: hand-checked matches on real Dutch debate, a real English conversation and
workshop-like talk in both languages; a marker set is only ever applied to its own language."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers import PARLAMINT, SHARED

from pipeline.core import yamlfile
from pipeline.core.errors import CdaError
from pipeline.language.markers import MarkerSet, default_text, load_markers, marker_table
from pipeline.language.parse import load_pipeline


@pytest.fixture(scope="module")
def nlp():
    return load_pipeline("no-such-model", "nl")[0]


@pytest.fixture(scope="module")
def spec() -> MarkerSet:
    data, lines = yamlfile.load_text(default_text("nl"))
    return yamlfile.parse(MarkerSet, Path("markers.nl.yaml"), data, lines)


def matches(nlp, spec: MarkerSet, *texts: str) -> list[tuple[str, str, str]]:
    docs = list(nlp.pipe(texts))
    table = marker_table([f"s{i}" for i in range(len(texts))], docs, spec, nlp)
    return list(zip(table["category"], table["marker"], table["text"], strict=True))


def test_workshop_talk_markers_by_hand(nlp, spec) -> None:
    found = matches(
        nlp,
        spec,
        "Wij Nederlanders moeten misschien een beetje zelf verantwoordelijkheid nemen.",
        "Die mensen in China zouden dat nooit accepteren, denk ik.",
        "De overheid en de bedrijven verdienen eraan, zij kunnen alles.",
    )
    assert found == [
        ("ingroup", "wij-nederlanders", "Wij Nederlanders"),  # longest match, not also "Wij"
        ("modality", "moeten", "moeten"),
        ("hedging", "misschien", "misschien"),
        ("hedging", "een-beetje", "een beetje"),
        ("responsibility", "zelf", "zelf"),
        ("outgroup", "die-mensen", "Die mensen"),
        ("actor", "china", "China"),
        ("modality", "zullen", "zouden"),
        ("negation", "niet", "nooit"),
        ("hedging", "denk-ik", "denk ik"),
        ("actor", "overheid", "overheid"),
        ("actor", "bedrijven", "bedrijven"),
        ("responsibility", "verdienen", "verdienen"),
        ("outgroup", "zij", "zij"),
        ("modality", "kunnen", "kunnen"),
    ]


def test_marker_terms_fold_diacritics_but_the_table_keeps_the_text(nlp) -> None:
    data, lines = yamlfile.load_text(
        "version: 1\nlanguage: nl\ncategories:\n  modality:\n    markers:\n"
        "      - id: mogen\n        terms: [mogen]\n"
        "  actor:\n    markers:\n      - id: eu\n        terms: [Europese Unie]\n"
    )
    spec = yamlfile.parse(MarkerSet, Path("m.yaml"), data, lines)
    text = "Je mógen ze niet dwingen, zegt de Europése Unie."
    table = marker_table(["s0"], [nlp(text)], spec, nlp)
    # written with accents in the text, without in the list: both found, shown as written
    assert table[["marker", "text", "lemma"]].values.tolist() == [
        # simplemma knows the words once the emphatic accent is dropped
        ["mogen", "mógen", "mogen"],
        ["eu", "Europése Unie", "europees unie"],
    ]
    for row in table.itertuples():
        assert text[row.start_char : row.end_char] == row.text


def test_offsets_point_at_the_matched_text(nlp, spec) -> None:
    text = "Ik weet niet of de Belastingdienst dat mag."
    docs = [nlp(text)]
    table = marker_table(["s0"], docs, spec, nlp)
    for row in table.itertuples():
        assert text[row.start_char : row.end_char] == row.text
    assert ("hedging", "ik weet niet") in set(
        zip(table["category"], table["text"].str.lower(), strict=True)
    )
    assert ("modality", "mag") in set(zip(table["category"], table["text"], strict=True))


@pytest.mark.skipif(not PARLAMINT.is_file(), reason="shared ParlaMint data not present")
def test_real_debate_markers_match_hand_annotation(nlp, spec) -> None:
    with open(PARLAMINT, encoding="utf-8", newline="") as handle:
        rows = {
            row["u_id"].rsplit(".", 1)[1]: row["text"]
            for row in csv.DictReader(handle, delimiter="\t")
        }
    alkaya = rows["u2"][: rows["u2"].index("Alle adviezen")]
    van_dijk = rows["u3"][: rows["u3"].index("Hoe wil")]
    found = [(c, t) for c, _, t in matches(nlp, spec, alkaya, van_dijk)]
    # Annotated by hand from the text, sentence by sentence.
    assert found == [
        ("ingroup", "We"),
        ("outgroup", "daar"),  # "We hebben daar urenlang over gedebatteerd."
        ("negation", "geen"),  # "... geen seconde het gevoel gehad ..."
        ("outgroup", "Zij"),
        ("hedging", "eigenlijk"),  # "Zij is eigenlijk wel tevreden ..."
        ("ingroup", "ons"),
        ("hedging", "eigenlijk"),  # "Ze heeft urenlang aan ons verteld ..."
        ("ingroup", "We"),
        ("ingroup", "we"),  # "We hebben ... maar we hebben ..."
        ("ingroup", "We"),
        ("negation", "niet"),  # "We begrijpen dat ouders niet ..."
        ("negation", "niet"),
        ("negation", "niet"),
        ("modality", "kan"),  # "... niet gedeeld kan"
    ]


def test_workspace_file_is_validated_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "markers.yaml"
    path.write_text(
        "version: 1\nlanguage: nl\ncategories:\n  ingroup:\n    markers:\n"
        "      - id: wij\n        terms: [wij]\n      - id: wij\n        terms: [ons]\n",
        encoding="utf-8",
    )
    with pytest.raises(CdaError) as info:
        load_markers(path, language="nl")
    assert f"{path}:5" in info.value.message and "duplicate marker id 'wij'" in info.value.message

    path.write_text(
        "version: 1\nlanguage: nl\ncategories:\n  hedging:\n    markers:\n      - id: leeg\n",
        encoding="utf-8",
    )
    with pytest.raises(CdaError, match="needs 'terms' or 'patterns'"):
        load_markers(path, language="nl")


def test_patterns_and_a_custom_category_from_the_workspace_file(nlp, tmp_path: Path) -> None:
    path = tmp_path / "markers.yaml"
    path.write_text(
        "version: 3\nlanguage: nl\ncategories:\n  toekomst:\n    markers:\n"
        "      - id: straks\n        terms: [straks, later]\n"
        "      - id: in-jaar\n        patterns:\n"
        "          - [{LOWER: in}, {LIKE_NUM: true}]\n",
        encoding="utf-8",
    )
    spec, provenance = load_markers(path, language="nl")
    assert "v3" in provenance and str(path) in provenance
    table = marker_table(["s0"], [nlp("In 2040 is alles straks digitaal.")], spec, nlp)
    assert list(zip(table["marker"], table["text"], strict=True)) == [
        ("in-jaar", "In 2040"),
        ("straks", "straks"),
    ]

    path.write_text(
        "version: 1\nlanguage: nl\ncategories:\n  x:\n    markers:\n"
        "      - id: fout\n        patterns:\n          - [{NOPE: 1}]\n",
        encoding="utf-8",
    )
    with pytest.raises(CdaError, match="'x/fout': invalid spaCy pattern"):
        marker_table(["s0"], [nlp("tekst")], load_markers(path, language="nl")[0], nlp)


def test_missing_workspace_file_falls_back_to_the_bundled_list(tmp_path: Path) -> None:
    spec, provenance = load_markers(tmp_path / "markers.yaml", language="nl")
    assert provenance.startswith("bundled resources/markers.nl.yaml v1")
    assert {
        "ingroup",
        "outgroup",
        "modality",
        "hedging",
        "negation",
        "responsibility",
        "actor",
    } == set(spec.categories)


# English, and languages without a marker set -------------------------------------------------

CATEGORIES = {"ingroup", "outgroup", "modality", "hedging", "negation", "responsibility", "actor"}


@pytest.fixture(scope="module")
def nlp_en():
    return load_pipeline("no-such-model", "en")[0]


@pytest.fixture(scope="module")
def spec_en() -> MarkerSet:
    spec, provenance = load_markers(Path("/nonexistent/markers.yaml"), language="en")
    assert provenance.startswith("bundled resources/markers.en.yaml v1")
    return spec


def test_english_set_has_the_categories_of_the_dutch_one(spec, spec_en) -> None:
    assert spec_en.language == "en"
    assert set(spec_en.categories) == set(spec.categories) == CATEGORIES


def test_english_workshop_talk_markers_by_hand(nlp_en, spec_en) -> None:
    found = matches(
        nlp_en,
        spec_en,
        "We have to take personal responsibility, but they don't care about people like us.",
        "In May the US government said those young people could not keep up with it.",
        "I thought it was fine. I think maybe it has to change, I'd say.",
        "And politicians shouldn't blame members of the public; nobody deserved that.",
    )
    assert found == [
        ("ingroup", "we", "We"),
        ("modality", "must", "have to"),
        ("responsibility", "own-responsibility", "personal responsibility"),
        ("outgroup", "they", "they"),
        ("negation", "not", "n't"),  # do n't
        ("ingroup", "we-as-a-people", "people like us"),  # longest match, not also "us"
        # "In May" is the month (lemma "may", like "might"): not modality
        ("actor", "united-states", "US"),  # not the pronoun "us"
        ("actor", "government", "government"),
        ("outgroup", "those-people", "those young people"),
        ("modality", "can", "could"),  # lemma "can"
        ("negation", "not", "not"),
        ("responsibility", "keep-up", "keep up with"),
        # "I thought" (lemma "think") is narrative, not a hedge
        ("hedging", "i-think", "I think"),
        ("hedging", "maybe", "maybe"),
        ("modality", "must", "has to"),  # an inflection of "have to"
        ("hedging", "i-think", "I'd say"),  # "I would say" with 'd
        ("actor", "government", "politicians"),  # plural of the term "politician"
        ("modality", "should", "should"),  # should n't
        ("negation", "not", "n't"),
        ("actor", "citizens", "members of the public"),  # inflected multiword term
        ("negation", "not", "nobody"),
        ("responsibility", "deserve", "deserved"),
    ]


def test_english_contractions_curly_apostrophes_and_modal_may(nlp_en, spec_en) -> None:
    found = matches(
        nlp_en,
        spec_en,
        "They can’t and won’t. We’ve got to help our country.",
        "May I ask? It might be a bit much, sort of. I don’t think so.",
    )
    assert found == [
        ("outgroup", "they", "They"),
        ("modality", "can", "can’t"),
        ("negation", "not", "n’t"),
        ("modality", "will", "won’t"),
        ("negation", "not", "n’t"),
        ("ingroup", "we", "We"),
        ("modality", "must", "’ve got to"),
        ("ingroup", "we-as-a-people", "our country"),
        ("modality", "may", "May"),  # sentence-initial: the modal
        ("modality", "may", "might"),
        ("hedging", "a-bit", "a bit"),
        ("hedging", "a-bit", "sort of"),
        ("hedging", "i-think", "I don’t think"),
        ("negation", "not", "n’t"),
    ]


SAMPLE_STM = SHARED / "conversation-sample-en" / "sample.stm"


@pytest.mark.skipif(not SAMPLE_STM.is_file(), reason="shared English conversation not present")
def test_real_english_conversation_markers_match_hand_annotation(nlp_en, spec_en) -> None:
    # the reference transcript: one turn per line, text after the five STM fields
    turns = [line.split(" ", 5)[5] for line in SAMPLE_STM.read_text().splitlines() if line]
    assert len(turns) == 13
    found = [(c, t) for c, _, t in matches(nlp_en, spec_en, *turns)]
    # Annotated by hand, turn by turn; the other nine turns have none ("then I thought you
    # know" is narrative, "there isn't" existential "there", "down here" no outgroup).
    assert found == [
        ("negation", "n't"),  # 4 "I didn't know you were there."
        ("negation", "Neither"),  # 5 "Neither did I."
        ("negation", "n't"),  # 11 "Well, there isn't that much difference."
        ("outgroup", "they"),  # 12 "At least you know, they all call me a Yankee down here,
        ("modality", "can"),  #     so what can I say?"
        ("negation", "n't"),  # 13 "Oh, I don't hear that in New Jersey now."
    ]


def test_missing_workspace_file_uses_the_languages_own_set_or_none(tmp_path: Path) -> None:
    spec, provenance = load_markers(tmp_path / "markers.yaml", language="en")
    assert spec is not None and spec.language == "en"
    assert provenance.startswith("bundled resources/markers.en.yaml v1")
    spec, provenance = load_markers(tmp_path / "markers.yaml", language="de")
    assert spec is None  # never the Dutch set
    assert provenance.startswith("no discourse markers for language 'de'")
    assert default_text("de") is None


def test_workspace_file_of_another_language_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "markers.yaml"
    path.write_text(default_text("nl"), encoding="utf-8")
    lines = default_text("nl").splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.startswith("language:"))
    with pytest.raises(CdaError) as info:
        load_markers(path, language="en", shown="codebooks/markers.yaml")
    assert info.value.message.startswith(f"codebooks/markers.yaml:{line}: ")
    assert "'nl'" in info.value.message and "'en'" in info.value.message
    assert "cda init" in info.value.hint
    with pytest.raises(CdaError) as info:
        load_markers(path, language="de")
    assert "write markers for 'de'" in info.value.hint
