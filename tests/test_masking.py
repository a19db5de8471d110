"""Masking names without rewriting ordinary language (issue 15, part 1).

Every expectation below is worked out by hand from the texts in the test; the ParlaMint test
also recounts the names with its own regular expressions.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from helpers import parlamint_jsonl
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.cli.init import init_workspace
from pipeline.core.config import PseudonymiseConfig, load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_csv, read_table, validate
from pipeline.core.paths import Workspace
from pipeline.core.schemas import MASKED_TERMS, NAMES, REPLACEMENTS, SEGMENTS, SPEAKER_KEY, WORDS
from pipeline.importers import import_transcripts, register
from pipeline.ingest import register_media
from pipeline.language.lexicon import load_lexicon
from pipeline.language.names import NameGuard, id_tokens, label_name
from pipeline.pseudonymise import PseudonymiseResult, pseudonymise, pseudonymise_tables, review

CFG = PseudonymiseConfig()


def segments(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Segments from (recording_id, speaker label, text)."""
    counters: Counter[str] = Counter()
    records = []
    for rid, speaker, text in rows:
        counters[rid] += 1
        records.append(
            {
                "recording_id": rid,
                "group": "g",
                "segment_id": f"{rid}-{counters[rid]:04d}",
                "start": None,
                "end": None,
                "speaker": speaker,
                "role": "unknown",
                "text": text,
                "source": "import:test",
            }
        )
    return pd.DataFrame(records, columns=SEGMENTS.names)


def run(
    rows: list[tuple[str, str, str]],
    *,
    language: str = "nl",
    names: list[tuple[str, str]] = (),
    cfg: PseudonymiseConfig = CFG,
    key: pd.DataFrame | None = None,
) -> PseudonymiseResult:
    return pseudonymise_tables(
        segments(rows),
        WORDS.empty(),
        SPEAKER_KEY.empty() if key is None else key,
        pd.DataFrame(list(names), columns=NAMES.names),
        cfg,
        language=language,
    )


def p(result: PseudonymiseResult, label: str) -> str:
    """The placeholder of a speaker: "[P03]"."""
    (pseudonym,) = set(result.key.loc[result.key["label"] == label, "pseudonym"])
    return f"[{pseudonym}]"


def texts(result: PseudonymiseResult) -> list[str]:
    return result.segments["text"].tolist()


def term_counts(result: PseudonymiseResult) -> dict[str, tuple[int, int]]:
    return {r.term: (r.count, r.kept) for r in result.terms.itertuples(index=False)}


# labels --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "full", "parts"),
    [
        ("De heer Alkaya (SP)", "Alkaya", ("Alkaya",)),
        ("Mevrouw Inge van Dijk (CDA)", "Inge van Dijk", ("Inge", "Dijk")),
        ("Staatssecretaris Van Huffelen", "Van Huffelen", ("Huffelen",)),
        ("De heer Azarkan (DENK)", "Azarkan", ("Azarkan",)),
        ("De voorzitter", None, ()),
        ("Jo de Vries", "Jo de Vries", ("Jo", "Vries")),
        ("Gespreksleider", None, ()),
        ("Interviewer 2", None, ()),
    ],
)
def test_a_label_is_reduced_to_its_name(label, full, parts) -> None:
    found = label_name(label, load_lexicon("nl"), role_words=["Gespreksleider", "Interviewer"])
    assert (found.full, found.parts) == (full, parts)


def test_analyst_not_names_extend_the_bundled_list() -> None:
    lexicon = load_lexicon("nl", not_names=["Fractievoorzitster", "oud-minister"])
    assert label_name("Fractievoorzitster Jansen", lexicon).parts == ("Jansen",)
    assert label_name("Oud-minister Jansen", lexicon).parts == ("Jansen",)
    assert label_name("Oud-minister Jansen", load_lexicon("nl")).parts == (
        "Oud-minister",
        "Oud",
        "minister",
        "Jansen",
    )


# the shared ParlaMint debate -----------------------------------------------------------------

# Hand count from turns.tsv (grep of each surname, read in context): every surname occurs only
# capitalised and as a name. "Dijk" occurs 6×: 5× as "mevrouw Van Dijk" (the label part) and 1× in
# "motie-Inge van Dijk" (the whole name from the label); "Raan" 4×, always in "Van Raan" (the
# whole name of "De heer Van Raan (PvdD)"). Huffelen, Edgar and Raan alone never occur.
PARLAMINT_TERMS = {
    "Alkaya": 4,
    "Azarkan": 9,
    "Dijk": 5,
    "Inge van Dijk": 1,
    "Grinwis": 4,
    "Idsinga": 2,
    "Kat": 2,
    "Mulder": 3,
    "Nijboer": 3,
    "Snels": 5,
    "Van Raan": 4,
}
SURNAMES = [
    "Alkaya",
    "Azarkan",
    "Dijk",
    "Grinwis",
    "Huffelen",
    "Idsinga",
    "Inge",
    "Edgar",
    "Kat",
    "Mulder",
    "Nijboer",
    "Raan",
    "Snels",
]
# words that must survive: titles, forms of address, parties, the verb "denk"
ORDINARY = [
    "staatssecretaris",
    "voorzitter",
    "Voorzitter",
    "minister",
    "mevrouw",
    "Mevrouw",
    "heer",
    "meneer",
    "denk",
    "DENK",
    "SP",
    "CDA",
    "VVD",
    "PVV",
    "PvdA",
    "ChristenUnie",
    "GroenLinks",
    "Kamer",
]


def occurrences(word: str, corpus: list[str]) -> int:
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")  # case-sensitive, whole word
    return sum(len(pattern.findall(text)) for text in corpus)


@pytest.fixture(scope="module")
def debate(tmp_path_factory) -> tuple[Workspace, list[str], PseudonymiseResult]:
    root = tmp_path_factory.mktemp("parlamint")
    ws = Workspace.at(root / "ws")
    init_workspace(ws, study="toeslagen", groups=["kamer"])
    source = parlamint_jsonl(root / "toeslagen-debat.jsonl")
    config = load_config(ws)
    register(ws, config, source, recording_id=None, group="kamer")
    import_transcripts(ws, config)
    before = read_table(ws.imported_segments, SEGMENTS)["text"].tolist()
    return ws, before, pseudonymise(ws, config)


def test_parlamint_titles_parties_and_common_words_survive(debate) -> None:
    _, before, result = debate
    after = texts(result)
    assert occurrences("staatssecretaris", before) == 37  # the sanity of the check below
    assert occurrences("denk", before) == 2 and occurrences("DENK", before) == 1
    assert all(occurrences(w, before) > 0 for w in ORDINARY)
    assert {w: occurrences(w, after) for w in ORDINARY} == {
        w: occurrences(w, before) for w in ORDINARY
    }


def test_parlamint_every_surname_is_masked_where_used_as_a_name(debate) -> None:
    _, before, result = debate
    after = texts(result)
    # 43 words in 42 masks: "Inge van Dijk" is one placeholder for "Inge" and "Dijk"
    assert sum(occurrences(n, before) for n in SURNAMES) == 43
    assert {n: occurrences(n, after) for n in SURNAMES} == dict.fromkeys(SURNAMES, 0)
    # and nothing is lower-cased: no surname survives in any case
    folded = " ".join(after).casefold()
    assert [n for n in SURNAMES if re.search(rf"(?<!\w){n.casefold()}(?!\w)", folded)] == []


def test_parlamint_review_table_counts_equal_an_independent_count(debate) -> None:
    ws, before, result = debate
    independent = {
        term: occurrences(term, before)
        for term in PARLAMINT_TERMS
        if term not in ("Dijk", "Van Raan")
    }
    independent["Dijk"] = occurrences("Dijk", before) - occurrences("Inge van Dijk", before)
    independent["Van Raan"] = occurrences("Van Raan", before)
    assert occurrences("Raan", before) == occurrences("Van Raan", before)
    assert independent == PARLAMINT_TERMS

    on_disk = read_csv(ws.masked_terms, MASKED_TERMS)
    assert {r.term: r.count for r in on_disk.itertuples()} == PARLAMINT_TERMS
    assert set(on_disk["kept"]) == {0}
    assert {r.term for r in on_disk.itertuples() if r.dictionary_word} == {
        "Dijk",
        "Kat",
        "Mulder",
        "Snels",
    }
    placeholders = {t: ph for t, ph in zip(on_disk["term"], on_disk["placeholder"], strict=True)}
    assert (
        placeholders["Dijk"]
        == placeholders["Inge van Dijk"]
        == p(result, "Mevrouw Inge van Dijk (CDA)")
    )
    total = sum(PARLAMINT_TERMS.values())
    assert total == 42
    replacements = read_csv(ws.replacements, REPLACEMENTS)
    assert replacements["replacements"].sum() == total
    shown = Counter(re.findall(r"\[P\d+\]", " ".join(texts(result))))
    assert sum(shown.values()) == total
    # the interim counts carry placeholders, never the terms
    assert not any(n in ws.replacements.read_text(encoding="utf-8") for n in SURNAMES)


def test_parlamint_without_facilitator_says_so_until_the_chair_is_named(debate) -> None:
    ws, _, result = debate
    assert result.no_facilitator == ("toeslagen-debat",)
    assert set(result.segments["role"]) == {"participant"}
    cfg = PseudonymiseConfig(facilitator_labels=["De voorzitter"])
    segs = read_table(ws.imported_segments, SEGMENTS)
    again = pseudonymise_tables(segs, WORDS.empty(), result.key, NAMES.empty(), cfg, language="nl")
    assert again.no_facilitator == ()
    chair = segs["speaker"] == "De voorzitter"
    assert set(again.segments.loc[chair, "role"]) == {"facilitator"}
    assert set(again.segments.loc[~chair, "role"]) == {"participant"}
    assert again.segments["speaker"].tolist() == result.segments["speaker"].tolist()


# case-aware rules ----------------------------------------------------------------------------


def test_a_name_that_is_a_word_is_masked_only_where_used_as_a_name() -> None:
    label = "Mevrouw Kat (D66)"
    result = run(
        [
            ("r", label, "Ik denk dat de kat van mevrouw Kat ziek is."),
            ("r", "De voorzitter", "Kat zei dat ook."),
            ("r", "De voorzitter", "Dank aan de leden Inge van Dijk, Kat en Idsinga."),
        ]
    )
    kat = p(result, label)
    # "kat" lower case is the animal; mid-sentence "Kat" is the name (2×), which outnumbers the
    # lower-case use (1×), so the sentence-initial "Kat" is the name as well
    assert texts(result) == [
        f"Ik denk dat de kat van mevrouw {kat} ziek is.",
        f"{kat} zei dat ook.",
        f"Dank aan de leden Inge van Dijk, {kat} en Idsinga.",
    ]
    assert term_counts(result) == {"Kat": (3, 1)}
    assert result.terms["dictionary_word"].tolist() == [True]


def test_a_sentence_initial_word_stays_when_the_corpus_uses_it_as_a_word() -> None:
    text = "Kat en hond zijn dieren. De kat slaapt. Een kat eet."
    result = run([("r", "Kat", text)])
    # capitalised mid-sentence 0×, lower case 2×: the sentence-initial "Kat" is the word
    assert texts(result) == [text]
    assert term_counts(result) == {"Kat": (0, 3)}


def test_a_sentence_initial_name_that_simplemma_calls_a_word_is_masked() -> None:
    assert load_lexicon("nl").is_word("daan")  # simplemma lists the name as a Dutch word
    result = run([("r", "Daan", "Daan zei dat het kon."), ("r", "Ria", "Ja, Daan.")])
    assert texts(result) == [f"{p(result, 'Daan')} zei dat het kon.", f"Ja, {p(result, 'Daan')}."]


def test_whole_words_only_and_no_possessive_trap() -> None:
    label = "De heer Van der Lee (GroenLinks)"
    result = run(
        [
            ("r", label, "Dank u."),
            (
                "r",
                "De voorzitter",
                "Ik lees de motie van de heer Van der Lee voor. Lee's motie is goed. Leest u mee?",
            ),
        ]
    )
    lee = p(result, label)
    assert texts(result)[1] == (
        f"Ik lees de motie van de heer {lee} voor. {lee}'s motie is goed. Leest u mee?"
    )


def test_short_first_names_are_masked() -> None:
    label = "Jo de Vries"
    result = run([("r", label, "Hoi."), ("r", "Ria", "Dank je, Jo. Jo de Vries zei het al.")])
    jo = p(result, label)
    assert texts(result)[1] == f"Dank je, {jo}. {jo} zei het al."


def test_english_function_words_and_titles_are_untouched() -> None:
    rows = [
        (
            "m",
            "The Chair",
            "Thank you. The next item is the budget and the housing plan. "
            "I call Councillor Smith and then Mrs May.",
        ),
        (
            "m",
            "Councillor Ann Smith (Lab)",
            "The plan and the budget are late, and the Chair knows it. May I ask the Chair why?",
        ),
        (
            "m",
            "Theresa May",
            "Councillor Smith and I agree: the plan may work and it may fail, and the budget "
            "will follow. Ann, thank you.",
        ),
    ]
    result = run(rows, language="en")
    smith, may = p(result, "Councillor Ann Smith (Lab)"), p(result, "Theresa May")
    # "May I ask": "may" is written in lower case 2×, capitalised mid-sentence 1× ("Mrs May"),
    # so at a sentence start it is the word
    assert texts(result) == [
        "Thank you. The next item is the budget and the housing plan. "
        f"I call Councillor {smith} and then Mrs {may}.",
        rows[1][2],
        f"Councillor {smith} and I agree: the plan may work and it may fail, and the budget "
        f"will follow. {smith}, thank you.",
    ]
    before = [r[2] for r in rows]
    after = texts(result)
    for word in ("the", "The", "and", "Chair", "may", "May"):
        assert occurrences(word, after) == occurrences(word, before) - (word == "May")


def test_listed_names_are_masked_in_every_case_even_when_they_are_words() -> None:
    result = run([("r", "SPEAKER_00", "De vos en Vos. VOS!")], names=[("Vos", "person")])
    assert texts(result) == ["De [NAAM] en [NAAM]. [NAAM]!"]
    (row,) = result.terms.itertuples(index=False)
    assert (row.source, row.count, row.lowercase, row.dictionary_word) == ("names.csv", 3, 1, True)


def test_a_language_without_word_list_masks_label_parts_in_any_case() -> None:
    result = run([("r", "Kat", "Kat, kat en KAT.")], language="eu")
    assert texts(result) == [f"{p(result, 'Kat')}, {p(result, 'Kat')} en {p(result, 'Kat')}."]
    assert any("no word list for language 'eu'" in n for n in result.notices)


# NFC / NFD -----------------------------------------------------------------------------------


def test_the_same_label_in_nfc_and_nfd_is_one_speaker() -> None:
    nfc, nfd = "Zoë", unicodedata.normalize("NFD", "Zoë")
    assert nfc != nfd
    result = run([("r1", nfc, "Hoi."), ("r1", nfd, "Ja."), ("r2", nfd, "Hallo.")])
    assert len(result.key) == 2  # one row per recording
    assert len(set(result.segments["speaker"])) == 1

    old = pd.DataFrame(
        [{"recording_id": "r1", "label": nfd, "pseudonym": "P07", "role": "participant"}]
    ).assign(real_name=None, person=None)[SPEAKER_KEY.names]
    again = run([("r1", nfc, "Ik ben Zoë.")], key=old)
    assert again.key["pseudonym"].tolist() == ["P07"]
    assert texts(again) == ["Ik ben [P07]."]


# review warnings -----------------------------------------------------------------------------


def test_review_flags_unusual_counts_and_dictionary_words_top_first() -> None:
    rows = [
        ("r1", "Minister", "label part", 20, 0, 0, True),
        ("r2", "Minister", "label part", 10, 0, 0, True),
        ("r1", "Alkaya", "label", 4, 0, 0, False),
        ("r1", "Kat", "label", 2, 1, 0, True),
        ("r1", "Zwolle", "names.csv", 3, 0, 0, True),
        ("r1", "Duo", "names.csv", 2, 0, 2, True),
    ]
    # "Rose Jones" speaks; "Rose, ..." only ever opens a sentence, and "prices rose" says the
    # word: never masked, but 2 capitalised sentence starts kept, maybe the name
    rows = [(*r, 0) for r in rows] + [("r1", "Rose", "label part", 0, 3, 0, True, 2)]
    terms = pd.DataFrame(
        [
            {
                "recording_id": r,
                "term": t,
                "source": s,
                "placeholder": "[NAAM]",
                "count": c,
                "kept": k,
                "lowercase": low,
                "kept_capitalised": kc,
                "dictionary_word": w,
                "language": "nl",
            }
            for r, t, s, c, k, low, w, kc in rows
        ]
    )
    validate(terms, MASKED_TERMS, where="terms")
    # totals: Minister 30, Alkaya 4, Zwolle 3, Kat 2, Duo 2; median 3, so the limit is
    # max(20, 5 × 3) = 20 and only Minister (30) is unusual. Dictionary words from labels:
    # Minister, Kat; listed dictionary words masked in lower case: Duo (Zwolle never was).
    warnings = review(terms)
    assert [(w.term, w.count) for w in warnings] == [
        ("Minister", 30),
        ("Minister", 30),
        ("Duo", 2),
        ("Kat", 2),
        ("Rose", 0),
    ]
    assert "more than max(20, 5 × median) = 20" in str(warnings[0])
    assert "pseudonymise.not_names" in str(warnings[0])
    assert "kept 1× as a word" in str(warnings[3])
    assert "masked 2× in lower case" in str(warnings[2])
    assert "2× capitalised at a sentence start: check that it is not the name" in str(warnings[4])


# names in recording ids and file names -------------------------------------------------------


def test_id_tokens_are_whole_words() -> None:
    guard = NameGuard.build(
        listed=[("Zoë", "person"), ("Plan Zuid", "other")],
        labels=["Henk Jansen", "Mevrouw Kat (D66)"],
        lexicon=load_lexicon("nl"),
    )
    assert id_tokens("Henk-Jansen-interview") == ("henk", "jansen", "interview")
    assert [n for n, _ in guard.hits("Henk-Jansen-interview")] == ["henk", "jansen"]
    assert guard.hits("onderzoek-2") == []
    assert guard.hits("zoë_2.jsonl") == [("zoe", "data/private/names.csv")]
    assert guard.hits("plan-zuid-sessie") == [("plan zuid", "data/private/names.csv")]
    assert guard.hits("zuid-sessie") == []
    assert guard.hits("kamerdebat-d66") == []  # affiliations are not names


def _jsonl(path: Path, turns: list[tuple[str, str]]) -> Path:
    path.write_text(
        "".join(json.dumps({"speaker": s, "text": t}) + "\n" for s, t in turns), encoding="utf-8"
    )
    return path


def _ws(tmp_path: Path, names: str = "") -> Workspace:
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="t", groups=["burgers"])
    if names:
        ws.names.parent.mkdir(parents=True, exist_ok=True)
        ws.names.write_text("name,kind\n" + names, encoding="utf-8")
    return ws


def test_import_refuses_a_file_named_after_its_speaker_before_copying(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    turns = [("Gespreksleider", "Welkom."), ("Henk Jansen", "Dank je.")]
    source = _jsonl(tmp_path / "Henk-Jansen-interview.jsonl", turns)
    config = load_config(ws)
    with pytest.raises(CdaError) as info:
        register(ws, config, source, recording_id=None, group="burgers")
    assert "'henk' (speaker label)" in info.value.message
    assert "rename Henk-Jansen-interview.jsonl" in info.value.hint
    with pytest.raises(CdaError) as info:  # another id does not help: the file name stays
        register(ws, config, source, recording_id="interview-1", group="burgers")
    assert "file name" in info.value.message
    assert not ws.manifest.exists() and not any(ws.raw.iterdir())

    renamed = _jsonl(tmp_path / "interview-1.jsonl", turns)
    with pytest.raises(CdaError) as info:
        register(ws, config, renamed, recording_id="jansen", group="burgers")
    assert info.value.hint == "choose another --recording-id"
    assert register(ws, config, renamed, recording_id=None, group="burgers") == "interview-1"


def test_import_and_ingest_refuse_names_from_names_csv(tmp_path: Path) -> None:
    ws = _ws(tmp_path, "Fatima,person\nZoë,person\n")
    config = load_config(ws)
    source = _jsonl(tmp_path / "fatima_2.jsonl", [("SPEAKER_00", "Hoi.")])
    with pytest.raises(CdaError, match="contains a name"):
        register(ws, config, source, recording_id=None, group="burgers")
    media = tmp_path / "sessie-fatima.mp4"
    media.write_bytes(b"not checked: the name check comes first")
    with pytest.raises(CdaError, match="'fatima'"):
        register_media(ws, config, media, group="burgers")
    assert not ws.wav("sessie-fatima").exists() and not ws.manifest.exists()
    harmless = tmp_path / "onderzoek-2.mp4"  # "zoe" is inside a word: no name
    harmless.write_bytes(b"no media")
    with pytest.raises(CdaError) as info:
        register_media(ws, config, harmless, group="burgers")
    assert "contains a name" not in info.value.message


def test_pseudonymise_refuses_a_manifest_edited_to_hold_a_name(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    config = load_config(ws)
    source = _jsonl(tmp_path / "sessie.jsonl", [("Henk Jansen", "Hoi."), ("FAC", "Welkom.")])
    register(ws, config, source, recording_id=None, group="burgers")
    import_transcripts(ws, config)
    manifest = ws.manifest.read_text(encoding="utf-8")
    ws.manifest.write_text(manifest.replace("sessie,", "jansen-sessie,", 1), encoding="utf-8")
    with pytest.raises(CdaError) as info:
        pseudonymise(ws, config)
    assert "recordings.csv:2: recording id 'jansen-sessie'" in info.value.message
    assert not ws.segments.exists() and not ws.speaker_key.exists()


# the command line ----------------------------------------------------------------------------


def test_cli_warns_about_dictionary_words_and_missing_facilitators(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    source = _jsonl(
        tmp_path / "sessie.jsonl",
        [("Mevrouw Kat", "Ik denk het niet."), ("Anouk", "Mevrouw Kat heeft gelijk.")],
    )
    register(ws, load_config(ws), source, recording_id=None, group="burgers")
    import_transcripts(ws, load_config(ws))
    result = CliRunner().invoke(app, ["pseudonymise", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert any(
        "sessie: no facilitator found" in ln and "pseudonymise.facilitator_labels" in ln
        for ln in lines
    ), result.stderr
    assert any(
        ln.startswith("warning: 'Kat' (label, also a 'nl' word): masked 1×") for ln in lines
    ), result.stderr
    assert "data/private/pseudonymise.csv" in result.stderr


def test_a_name_kept_at_sentence_starts_is_warned_about_even_if_never_masked() -> None:
    # "Rose" opens two sentences (the vocative: the speaker's name) and the corpus writes
    # "rose" as a word twice more than capitalised mid-sentence (never): the rule keeps it,
    # so the analyst must hear about it before coding
    rows = [
        ("r1", "Rose Jones", "Prices rose sharply and then rose again."),
        ("r1", "Tim", "Rose, what do you think?"),
        ("r1", "Rose Jones", "Rose thinks so, yes."),
    ]
    result = run(rows, language="en")
    assert texts(result)[1] == "Rose, what do you think?"  # the rule's choice, stated below
    row = result.terms.set_index("term").loc["Rose"]
    assert (row["count"], row["kept"], row["kept_capitalised"]) == (0, 4, 2)
    (warning,) = [w for w in review(result.terms) if w.term == "Rose"]
    assert "2× capitalised at a sentence start" in str(warning)
