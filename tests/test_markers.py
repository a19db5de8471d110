"""Discourse markers: hand-checked matches on real Dutch debate and on workshop-like talk."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers import PARLAMINT

from pipeline import yamlfile
from pipeline.errors import CdaError
from pipeline.markers import MarkerSet, default_text, load_markers, marker_table
from pipeline.nlp import load_pipeline


@pytest.fixture(scope="module")
def nlp():
    return load_pipeline("no-such-model", "nl")[0]


@pytest.fixture(scope="module")
def spec() -> MarkerSet:
    data, lines = yamlfile.load_text(default_text())
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
        ["mogen", "mógen", "mógen"],
        ["eu", "Europése Unie", "europése unie"],
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
        load_markers(path)
    assert f"{path}:5" in info.value.message and "duplicate marker id 'wij'" in info.value.message

    path.write_text(
        "version: 1\nlanguage: nl\ncategories:\n  hedging:\n    markers:\n      - id: leeg\n",
        encoding="utf-8",
    )
    with pytest.raises(CdaError, match="needs 'terms' or 'patterns'"):
        load_markers(path)


def test_patterns_and_a_custom_category_from_the_workspace_file(nlp, tmp_path: Path) -> None:
    path = tmp_path / "markers.yaml"
    path.write_text(
        "version: 3\nlanguage: nl\ncategories:\n  toekomst:\n    markers:\n"
        "      - id: straks\n        terms: [straks, later]\n"
        "      - id: in-jaar\n        patterns:\n"
        "          - [{LOWER: in}, {LIKE_NUM: true}]\n",
        encoding="utf-8",
    )
    spec, provenance = load_markers(path)
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
        marker_table(["s0"], [nlp("tekst")], load_markers(path)[0], nlp)


def test_missing_workspace_file_falls_back_to_the_bundled_list(tmp_path: Path) -> None:
    spec, provenance = load_markers(tmp_path / "markers.yaml")
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
