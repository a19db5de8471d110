"""Speaker pseudonyms, the speaker key, and masking of listed names (pipeline.pseudonymise)."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.config import PseudonymiseConfig, load_config
from pipeline.core.io import read_csv, read_table, validate, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import MASKED_TERMS, NAMES, REPLACEMENTS, SEGMENTS, SPEAKER_KEY, WORDS
from pipeline.language.lexicon import load_lexicon
from pipeline.language.names import fold
from pipeline.pseudonymise import PseudonymiseResult, pseudonymise, pseudonymise_tables
from pipeline.pseudonymise.masking import build_masker

CFG = PseudonymiseConfig()
PLACEHOLDER = CFG.placeholders  # kind -> placeholder, e.g. person -> [NAAM]


# builders ------------------------------------------------------------------------------------


def segments(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Segments from (recording_id, speaker label, text); ids count per recording."""
    counters: Counter[str] = Counter()
    records = []
    for rid, speaker, text in rows:
        counters[rid] += 1
        n = counters[rid]
        records.append(
            {
                "recording_id": rid,
                "group": f"groep-{rid}",
                "segment_id": f"{rid}-{n:04d}",
                "start": 10.0 * n,
                "end": 10.0 * n + 8.0,
                "overlap": 0.0,  # 2 s between turns
                "speaker": speaker,
                "role": "unknown",
                "text": text,
                "source": "import:test",
            }
        )
    df = pd.DataFrame(records, columns=SEGMENTS.names)
    assert list(df.columns) == SEGMENTS.names
    return df


def names(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=NAMES.names)


def words(segment_id: str, speaker: str | None, tokens: list[str]) -> pd.DataFrame:
    """One word row per token, token i at [i, i + 0.5) seconds with score 0.9."""
    return pd.DataFrame(
        [
            {
                "segment_id": segment_id,
                "word_index": i,
                "word": w,
                "start": float(i),
                "end": i + 0.5,
                "score": 0.9,
                "speaker": speaker,
            }
            for i, w in enumerate(tokens)
        ],
        columns=WORDS.names,
    )


def run(
    segs: pd.DataFrame,
    name_list: pd.DataFrame | None = None,
    *,
    key: pd.DataFrame | None = None,
    word_rows: pd.DataFrame | None = None,
) -> PseudonymiseResult:
    return pseudonymise_tables(
        segs,
        WORDS.empty() if word_rows is None else word_rows,
        SPEAKER_KEY.empty() if key is None else key,
        NAMES.empty() if name_list is None else name_list,
        CFG,
    )


def pseudonym_of(result: PseudonymiseResult, label: str, recording_id: str | None = None) -> str:
    key = result.key
    hit = key[
        (key["label"] == label) & ((key["recording_id"] == recording_id) if recording_id else True)
    ]
    assert len(hit["pseudonym"].unique()) == 1, hit
    return str(hit["pseudonym"].iloc[0])


def texts(result: PseudonymiseResult) -> list[str]:
    return result.segments["text"].tolist()


# fold ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Zoë", "zoe"),
        ("Brûlé", "brule"),
        ("ZOË", "zoe"),
        ("Thijs van ’t Hof", "thijs van 't hof"),
        ("Çağla Öztürk", "cagla ozturk"),
        ("onderzoek", "onderzoek"),
    ],
)
def test_fold_lowercases_strips_diacritics_and_keeps_length(raw: str, folded: str) -> None:
    assert fold(raw) == folded
    assert len(fold(raw)) == len(raw)


# masking -------------------------------------------------------------------------------------


def test_masking_ignores_case_and_diacritics() -> None:
    variants = ["Zoë", "zoe", "ZOË", "Zoe", "zoë"]
    text = " en ".join(variants) + "."
    result = run(segments([("r1", "SPEAKER_00", text)]), names([("Zoë", "person")]))
    expected = " en ".join([PLACEHOLDER["person"]] * len(variants)) + "."
    assert texts(result) == [expected]


@pytest.mark.parametrize(
    "word",
    ["onderzoek", "huisbezoeken", "Zoetermeer", "bellen", "stellen", "vandaan", "Daanlaan"],
)
def test_masking_respects_word_boundaries(word: str) -> None:
    name_list = names([("Zoë", "person"), ("Ellen", "person"), ("Daan", "person")])
    text = f"Het woord {word} blijft staan."
    result = run(segments([("r1", "SPEAKER_00", text)]), name_list)
    assert texts(result) == [text]
    assert result.replacements.empty


def test_masking_matches_names_next_to_punctuation() -> None:
    name_list = names([("Zoë", "person"), ("Ellen", "person"), ("Daan", "person")])
    text = "(Zoë) zei: Ellen, Daan's fiets; 'Daan'!"
    result = run(segments([("r1", "SPEAKER_00", text)]), name_list)
    p = PLACEHOLDER["person"]
    assert texts(result) == [f"({p}) zei: {p}, {p}'s fiets; '{p}'!"]


def test_multi_word_name_becomes_one_speaker_placeholder() -> None:
    label = "Thijs van 't Hof"
    segs = segments(
        [
            ("r1", "Facilitator", "Dank je, Thijs van 't Hof. En wat vindt Thijs van ’t  Hof?"),
            ("r1", label, "Ik ben Thijs van 't Hof, socioloog."),
        ]
    )
    result = run(segs, names([("Thijs", "person"), (label, "person")]))
    p = f"[{pseudonym_of(result, label)}]"
    assert texts(result) == [f"Dank je, {p}. En wat vindt {p}?", f"Ik ben {p}, socioloog."]


def test_longer_name_wins_over_its_parts_whatever_the_list_order() -> None:
    name_list = names(
        [
            ("Ellen", "person"),
            ("Linde", "person"),
            ("Ellen Vos", "person"),
            ("Woonstichting De Linde", "organisation"),
        ]
    )
    text = "Ellen Vos werkt bij Woonstichting De Linde, met Ellen en Linde."
    result = run(segments([("r1", "SPEAKER_00", text)]), name_list)
    p, org = PLACEHOLDER["person"], PLACEHOLDER["organisation"]
    assert texts(result) == [f"{p} werkt bij {org}, met {p} en {p}."]


def test_listed_names_get_speaker_pseudonym_or_kind_placeholder() -> None:
    segs = segments(
        [
            (
                "r1",
                "Gespreksleider",
                "Ellen, Karim en Henk uit Almere werken bij DUO aan Plan Zuid.",
            ),
            ("r1", "Ellen Vos", "Klopt."),
            ("r1", "Karim Benali", "Ja."),
        ]
    )
    name_list = names(
        [
            ("Ellen", "person"),
            ("Karim", "person"),
            ("Henk", "person"),
            ("Almere", "place"),
            ("DUO", "organisation"),
            ("Plan Zuid", "other"),
        ]
    )
    result = run(segs, name_list)
    ellen, karim = pseudonym_of(result, "Ellen Vos"), pseudonym_of(result, "Karim Benali")
    assert ellen != karim
    assert texts(result)[0] == (
        f"[{ellen}], [{karim}] en {PLACEHOLDER['person']} uit {PLACEHOLDER['place']} werken bij "
        f"{PLACEHOLDER['organisation']} aan {PLACEHOLDER['other']}."
    )


def test_first_name_shared_by_two_speakers_is_not_attributed() -> None:
    segs = segments(
        [
            ("r1", "Ellen Vos", "Hoi."),
            ("r1", "Ellen de Wit", "Hallo."),
            ("r1", "Gespreksleider", "Ellen, wat denk jij? En Ellen Vos?"),
        ]
    )
    result = run(segs, names([("Ellen", "person")]))
    vos = pseudonym_of(result, "Ellen Vos")
    assert texts(result)[2] == f"{PLACEHOLDER['person']}, wat denk jij? En [{vos}]?"


def test_speaker_label_is_masked_even_when_not_listed() -> None:
    segs = segments([("r1", "Anouk", "Ik ben Anouk."), ("r1", "Facilitator", "Dank je anouk.")])
    result = run(segs)
    p = f"[{pseudonym_of(result, 'Anouk')}]"
    assert texts(result) == [f"Ik ben {p}.", f"Dank je {p}."]


def test_role_words_and_machine_labels_are_not_masked_as_names() -> None:
    text = "De facilitator en SPEAKER_01 praten over de gespreksleider."
    segs = segments([("r1", "Facilitator", text), ("r1", "SPEAKER_01", "Ja.")])
    assert texts(run(segs)) == [text, "Ja."]


def test_decomposed_unicode_is_masked_without_leftover_accents() -> None:
    """Transcripts saved on some systems use NFD: 'e' + combining accent instead of 'é'."""
    text = unicodedata.normalize("NFD", "Joris Brûlé en Zoë kwamen ook.")
    assert text != unicodedata.normalize("NFC", text)
    result = run(
        segments([("r1", "SPEAKER_00", text)]), names([("Brûlé", "person"), ("Zoë", "person")])
    )
    (masked,) = texts(result)
    p = PLACEHOLDER["person"]
    assert masked == f"Joris {p} en {p} kwamen ook."
    assert not any(unicodedata.combining(ch) for ch in masked)


def test_masker_spans_cover_exactly_the_name() -> None:
    masker = build_masker(
        SPEAKER_KEY.empty(), names([("Sint-Oedenrode", "place")]), CFG, lexicon=load_lexicon("nl")
    )
    text = "Ik woon in sint-oedenrode sinds 2019."
    start = text.index("sint-oedenrode")
    assert masker.spans(text) == [(start, start + len("Sint-Oedenrode"), PLACEHOLDER["place"])]


# pseudonyms and the speaker key --------------------------------------------------------------


def test_facilitators_get_f_numbers_and_participants_p_numbers() -> None:
    segs = segments(
        [
            ("r1", "Gespreksleider", "Welkom."),
            ("r1", "Anouk", "Hoi."),
            ("r1", "Bram", "Hallo."),
            ("r2", "FACILITATOR", "Welkom terug."),
            ("r2", "Cem", "Dag."),
        ]
    )
    result = run(segs)
    key = result.key
    fac = key[key["label"].isin(["Gespreksleider", "FACILITATOR"])]
    par = key[key["label"].isin(["Anouk", "Bram", "Cem"])]
    assert set(fac["role"]) == {"facilitator"}
    assert set(par["role"]) == {"participant"}
    assert sorted(fac["pseudonym"]) == ["F01", "F02"]
    assert sorted(par["pseudonym"]) == ["P01", "P02", "P03"]
    # the segments carry the pseudonym and role of their speaker
    lookup = dict(zip(key["label"], zip(key["pseudonym"], key["role"], strict=True), strict=True))
    expected = [lookup[label] for label in segs["speaker"]]
    got = list(zip(result.segments["speaker"], result.segments["role"], strict=True))
    assert got == expected
    validate(result.key, SPEAKER_KEY, where="key")
    validate(result.segments, SEGMENTS, where="segments")


def test_machine_labels_are_per_recording_named_labels_are_not() -> None:
    segs = segments(
        [
            ("r1", "SPEAKER_00", "Een."),
            ("r1", "Anouk", "Twee."),
            ("r2", "SPEAKER_00", "Drie."),
            ("r2", "Anouk", "Vier."),
        ]
    )
    result = run(segs)
    assert pseudonym_of(result, "SPEAKER_00", "r1") != pseudonym_of(result, "SPEAKER_00", "r2")
    assert pseudonym_of(result, "Anouk", "r1") == pseudonym_of(result, "Anouk", "r2")
    assert len(result.key) == 4  # one row per (recording, label)
    assert result.segments["speaker"].tolist() == [
        pseudonym_of(result, "SPEAKER_00", "r1"),
        pseudonym_of(result, "Anouk", "r1"),
        pseudonym_of(result, "SPEAKER_00", "r2"),
        pseudonym_of(result, "Anouk", "r2"),
    ]


def test_unknown_speaker_stays_unknown() -> None:
    result = run(segments([("r1", "unknown", "Niemand weet wie dit zei.")]))
    assert result.segments["speaker"].tolist() == ["unknown"]
    assert result.segments["role"].tolist() == ["unknown"]


def test_key_is_stable_and_new_speakers_get_the_next_number() -> None:
    first_rows = [
        ("r1", "Gespreksleider", "Welkom."),
        ("r1", "Anouk", "Hoi."),
        ("r1", "SPEAKER_03", "Ja."),
        ("r2", "Anouk", "Weer hier."),
        ("r2", "Bram", "Hallo."),
    ]
    first = run(segments(first_rows))
    key1 = first.key

    # same input again: same key, same output
    again = run(segments(first_rows), key=key1)
    pd.testing.assert_frame_equal(again.key, key1)
    pd.testing.assert_frame_equal(again.segments, first.segments)

    # a new recording, listed first, with a new participant: nobody is renumbered
    second = run(
        segments([("r3", "Dewi", "Nieuw."), ("r3", "Anouk", "Ook hier."), *first_rows]), key=key1
    )
    key2 = second.key
    pd.testing.assert_frame_equal(key2.iloc[: len(key1)], key1)
    added = key2.iloc[len(key1) :]
    numbers = [int(p[1:]) for p in key1["pseudonym"] if re.fullmatch(r"P\d+", p)]
    assert added[["recording_id", "label"]].values.tolist() == [["r3", "Dewi"], ["r3", "Anouk"]]
    assert added["pseudonym"].tolist() == [
        f"P{max(numbers) + 1:02d}",
        pseudonym_of(first, "Anouk", "r1"),
    ]


def _workspace_with_import(root: Path, rows: list[tuple[str, str, str]]) -> Workspace:
    ws = Workspace.at(root)
    ws.root.mkdir(parents=True, exist_ok=True)
    groups = sorted({f"groep-{rid}" for rid, _, _ in rows})
    ws.config_file.write_text(f"study: proef\ngroups: [{', '.join(groups)}]\n", encoding="utf-8")
    write_table(segments(rows), SEGMENTS, ws.imported_segments)
    write_table(WORDS.empty(), WORDS, ws.imported_words)
    return ws


def _read_key_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write_key_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SPEAKER_KEY.names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_hand_edits_to_the_key_file_are_respected(tmp_path: Path) -> None:
    rows = [
        ("r1", "Gespreksleider", "Welkom Anouk."),
        ("r1", "Anouk", "Ik sprak Bram Bakker gisteren, BRAM BAKKER dus."),
        ("r1", "SPEAKER_01", "Dat was ik."),
        ("r2", "Anouk", "Hier ben ik weer."),
    ]
    ws = _workspace_with_import(tmp_path / "ws", rows)
    pseudonymise(ws, load_config(ws))
    assert "Bram Bakker" in read_table(ws.segments, SEGMENTS)["text"][1]  # not known yet

    # the analyst renames Anouk's pseudonym everywhere and records SPEAKER_01's real name
    edited = _read_key_rows(ws.speaker_key)
    for row in edited:
        if row["label"] == "Anouk":
            row["pseudonym"] = "P42"
        if row["label"] == "SPEAKER_01":
            row["real_name"] = "Bram Bakker"
    _write_key_rows(ws.speaker_key, edited)
    bram = next(r["pseudonym"] for r in edited if r["label"] == "SPEAKER_01")
    host = next(r["pseudonym"] for r in edited if r["label"] == "Gespreksleider")

    # next run, with one more speaker in a new recording
    ws = _workspace_with_import(ws.root, [*rows, ("r3", "Cem", "Ik ben nieuw.")])
    pseudonymise(ws, load_config(ws))

    out = read_table(ws.segments, SEGMENTS)
    assert out["speaker"].tolist() == [host, "P42", bram, "P42", out["speaker"][4]]
    assert out["role"].tolist() == ["facilitator"] + ["participant"] * 4
    assert out["text"].tolist()[:3] == [
        "Welkom [P42].",
        f"Ik sprak [{bram}] gisteren, [{bram}] dus.",
        "Dat was ik.",
    ]
    key = read_csv(ws.speaker_key, SPEAKER_KEY)
    assert key.iloc[: len(edited)].fillna("").values.tolist() == [
        [r[c] for c in SPEAKER_KEY.names] for r in edited
    ]
    new = key.iloc[len(edited) :]
    assert new[["recording_id", "label", "role"]].values.tolist() == [["r3", "Cem", "participant"]]
    # numbering continues after the highest number in use, the hand-set P42 included
    highest = max(int(r["pseudonym"][1:]) for r in edited if re.fullmatch(r"P\d+", r["pseudonym"]))
    assert new["pseudonym"].tolist() == [f"P{highest + 1:02d}"]
    assert out["speaker"][4] == new["pseudonym"].iloc[0]


# words ---------------------------------------------------------------------------------------


def test_words_are_masked_and_a_multi_word_name_becomes_one_row() -> None:
    label = "Thijs van 't Hof"
    segs = segments(
        [
            ("r1", "Facilitator", "Welkom Thijs van 't Hof en zoe"),
            ("r1", label, "Dank je"),
        ]
    )
    tokens = ["Welkom", "Thijs", "van", "'t", "Hof", "en", "zoe"]
    word_rows = pd.concat(
        [words("r1-0001", "Facilitator", tokens), words("r1-0002", label, ["Dank", "je"])],
        ignore_index=True,
    )
    # "van" was said in overlap, the rest of the name not; "Zoë" (the last word) is unknown
    word_rows["overlap"] = pd.array(
        [False, False, True, False, False, False, None, False, False], dtype="boolean"
    )
    result = run(segs, names([("Zoë", "person")]), word_rows=word_rows)
    thijs = f"[{pseudonym_of(result, label)}]"
    fac = pseudonym_of(result, "Facilitator")

    out = result.words.sort_values(["segment_id", "word_index"], ignore_index=True)
    first = out[out["segment_id"] == "r1-0001"]
    assert first["word"].tolist() == ["Welkom", thijs, "en", PLACEHOLDER["person"]]
    assert first["word_index"].tolist() == list(range(4))
    name_row = first.iloc[1]
    first_word, last_word = tokens.index("Thijs"), tokens.index("Hof")
    assert name_row["start"] == word_rows["start"][first_word]
    assert name_row["end"] == word_rows["end"][last_word]
    # words around the name keep their own times
    assert first.iloc[2]["start"] == word_rows["start"][tokens.index("en")]
    # the placeholder is in overlap where any word of the name was; the others keep theirs
    assert [None if pd.isna(v) else v for v in first["overlap"]] == [False, True, False, None]

    second = out[out["segment_id"] == "r1-0002"]
    assert second["word"].tolist() == ["Dank", "je"]
    assert set(first["speaker"]) == {fac}
    assert set(second["speaker"]) == {thijs.strip("[]")}
    validate(result.words, WORDS, where="words")
    assert texts(result)[0] == f"Welkom {thijs} en {PLACEHOLDER['person']}"


def test_words_without_names_keep_their_rows_but_get_pseudonymous_speakers() -> None:
    segs = segments([("r1", "SPEAKER_00", "goed zo"), ("r1", "SPEAKER_01", "ja")])
    word_rows = pd.concat(
        [words("r1-0001", "SPEAKER_00", ["goed", "zo"]), words("r1-0002", None, ["ja"])],
        ignore_index=True,
    )
    result = run(segs, word_rows=word_rows)
    out = result.words.sort_values(["segment_id", "word_index"], ignore_index=True)
    assert out["word"].tolist() == ["goed", "zo", "ja"]
    assert out["speaker"][:2].tolist() == [pseudonym_of(result, "SPEAKER_00")] * 2
    assert pd.isna(out["speaker"][2])
    assert not out["speaker"].isin(["SPEAKER_00", "SPEAKER_01"]).any()


# replacement counts --------------------------------------------------------------------------


def test_replacement_counts_per_recording_match_planted_names() -> None:
    kinds = {"Zoë": "person", "Almere": "place", "DUO": "organisation"}
    planted = {  # recording -> segment texts, built from these counts below
        "r1": {"Zoë": 3, "Almere": 1},
        "r2": {"Zoë": 1, "DUO": 2, "Almere": 0},
    }
    rows = []
    for rid, counts in planted.items():
        for name, n in counts.items():
            for i in range(n):
                spelling = name.upper() if i % 2 else name  # vary the case as well
                rows.append((rid, "SPEAKER_00", f"Dit gaat over {spelling}, nummer {i}."))
        rows.append((rid, "SPEAKER_01", "Hier staat geen naam in, ook niet in onderzoek."))
    result = run(segments(rows), names(list(kinds.items())))

    expected: Counter[tuple[str, str]] = Counter()
    for rid, counts in planted.items():
        for name, n in counts.items():
            if n:
                expected[(rid, PLACEHOLDER[kinds[name]])] += n
    got = {
        (r.recording_id, r.placeholder): r.replacements
        for r in result.replacements.itertuples(index=False)
    }
    assert got == dict(expected)
    validate(result.replacements, REPLACEMENTS, where="replacements")


def test_stage_writes_replacement_counts_file(tmp_path: Path) -> None:
    rows = [("r1", "Anouk", "Ik ben Anouk, echt Anouk."), ("r2", "SPEAKER_00", "Geen namen.")]
    ws = _workspace_with_import(tmp_path / "ws", rows)
    result = pseudonymise(ws, load_config(ws))
    on_disk = read_csv(ws.replacements, REPLACEMENTS)
    anouk = f"[{pseudonym_of(result, 'Anouk')}]"
    assert on_disk.values.tolist() == [["r1", anouk, 2]]


# purity --------------------------------------------------------------------------------------


def test_inputs_are_not_mutated() -> None:
    label = "Thijs van 't Hof"
    segs = segments(
        [
            ("r1", "Facilitator", "Welkom Thijs van 't Hof uit Almere"),
            ("r1", label, "Dank je"),
            ("r2", "SPEAKER_00", "Zoë hier"),
        ]
    )
    word_rows = words(
        "r1-0001", "Facilitator", ["Welkom", "Thijs", "van", "'t", "Hof", "uit", "Almere"]
    )
    name_list = names([("Almere", "place"), ("Zoë", "person")])
    key = run(segments([("r0", "Anouk", "Eerder.")])).key  # a key from an earlier run

    before = [df.copy(deep=True) for df in (segs, word_rows, key, name_list)]
    result = run(segs, name_list, key=key, word_rows=word_rows)
    for original, copy in zip((segs, word_rows, key, name_list), before, strict=True):
        pd.testing.assert_frame_equal(original, copy)
    # and the result really differs from the input, so the comparison above means something
    assert result.segments["text"].tolist() != segs["text"].tolist()
    assert len(result.words) < len(word_rows)
    assert len(result.key) > len(key)


# name parts and possessives --------------------------------------------------------------------


def test_single_words_of_a_speakers_full_name_are_masked_without_listing() -> None:
    result = run(
        segments(
            [
                ("r", "Anouk de Vries", "Ik ben het met Karim eens."),
                (
                    "r",
                    "Karim van der Berg",
                    "Zoals Anouk zei, en mevrouw Vries ook: van der Berg hier.",
                ),
            ]
        )
    )
    anouk, karim = (
        pseudonym_of(result, "Anouk de Vries"),
        pseudonym_of(result, "Karim van der Berg"),
    )
    assert texts(result)[0] == f"Ik ben het met [{karim}] eens."
    assert texts(result)[1] == (
        f"Zoals [{anouk}] zei, en mevrouw [{anouk}] ook: van der [{karim}] hier."
    )


def test_name_parts_shared_by_two_speakers_are_masked_but_not_attributed() -> None:
    result = run(
        segments(
            [
                ("r", "Ellen Vos", "Hallo."),
                ("r", "Ellen Bakker", "Ellen hier, en ik ken Vos."),
            ]
        )
    )
    vos = pseudonym_of(result, "Ellen Vos")
    assert texts(result)[1] == f"{PLACEHOLDER['person']} hier, en ik ken [{vos}]."


def test_name_parts_can_be_switched_off() -> None:
    cfg = PseudonymiseConfig(mask_name_parts=False)
    segs = segments([("r", "Anouk de Vries", "Anouk zegt iets.")])
    result = pseudonymise_tables(segs, WORDS.empty(), SPEAKER_KEY.empty(), NAMES.empty(), cfg)
    assert texts(result) == ["Anouk zegt iets."]


def test_possessive_s_is_masked_and_kept_after_the_placeholder() -> None:
    result = run(segments([("r", "Henk", "Ja."), ("r", "Ria", "Henks fiets en Henk's auto.")]))
    henk = pseudonym_of(result, "Henk")
    assert texts(result)[1] == f"[{henk}]s fiets en [{henk}]'s auto."
    assert "henk" not in fold(texts(result)[1])


# facilitators and roles ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    [
        "FAC",
        "fac",
        "MOD",
        "MOD1",
        "Interviewer 2",
        "interviewer-3",
        "Moderator",
        "Gespreksleider",
        "BEGELEIDER",
        "Facilitator (Anouk)",
    ],
)
def test_default_facilitator_labels_cover_the_usual_forms(label: str) -> None:
    result = run(segments([("r1", label, "Welkom."), ("r1", "Fatima", "Dank je.")]))
    assert result.segments["role"].tolist() == ["facilitator", "participant"]
    assert result.segments["speaker"].tolist()[0].startswith(CFG.facilitator_prefix)
    assert result.no_facilitator == ()


@pytest.mark.parametrize("label", ["Fatima", "Facilitatorschap", "Modder", "Mod Jansen"])
def test_other_labels_are_participants(label: str) -> None:
    result = run(segments([("r1", label, "Hoi.")]))
    assert result.segments["role"].tolist() == ["participant"]
    assert result.no_facilitator == ("r1",)


def test_a_parenthesised_name_is_masked_when_listed() -> None:
    # the parenthesised part of a label is taken for an affiliation ("(SP)"), not a name
    result = run(
        segments([("r1", "Facilitator (Anouk)", "Ik ben Anouk."), ("r1", "Bo", "Hoi.")]),
        names([("Anouk", "person")]),
    )
    assert texts(result)[0] == "Ik ben [NAAM]."


def test_roles_follow_the_current_config_and_pseudonyms_stay() -> None:
    rows = [("r1", "Leider", "Welkom."), ("r1", "Anouk", "Hoi."), ("r2", "SPEAKER_00", "Ja.")]
    first = run(segments(rows))
    assert first.key["role"].tolist() == ["participant"] * 3
    assert first.no_facilitator == ("r1", "r2")

    cfg = PseudonymiseConfig(facilitator_labels=["Leider", "r2:SPEAKER_00"])
    second = pseudonymise_tables(segments(rows), WORDS.empty(), first.key, NAMES.empty(), cfg)
    assert second.key["pseudonym"].tolist() == first.key["pseudonym"].tolist()  # stable
    assert second.key["role"].tolist() == ["facilitator", "participant", "facilitator"]
    assert second.segments["role"].tolist() == ["facilitator", "participant", "facilitator"]
    assert second.segments["speaker"].tolist() == first.segments["speaker"].tolist()
    assert [(c.recording_id, c.label, c.before, c.after) for c in second.role_changes] == [
        ("r1", "Leider", "participant", "facilitator"),
        ("r2", "SPEAKER_00", "participant", "facilitator"),
    ]
    assert second.no_facilitator == ()

    # and back: the config is the truth on every run, the pseudonyms still stay
    third = run(segments(rows), key=second.key)
    assert third.key["role"].tolist() == ["participant"] * 3
    assert third.key["pseudonym"].tolist() == first.key["pseudonym"].tolist()
    # a qualified entry is for its recording only
    other = pseudonymise_tables(
        segments([("r1", "SPEAKER_00", "Ja.")]), WORDS.empty(), SPEAKER_KEY.empty(),
        NAMES.empty(), cfg,
    )  # fmt: skip
    assert other.key["role"].tolist() == ["participant"]


def test_stage_writes_the_review_table_into_private(tmp_path: Path) -> None:
    rows = [("r1", "Mevrouw Kat", "Ik ben Kat, de kat niet."), ("r1", "FAC", "Dank je, Kat.")]
    ws = _workspace_with_import(tmp_path / "ws", rows)
    result = pseudonymise(ws, load_config(ws))
    kat = f"[{pseudonym_of(result, 'Mevrouw Kat')}]"
    assert read_table(ws.segments, SEGMENTS)["text"].tolist() == [
        f"Ik ben {kat}, de kat niet.",
        f"Dank je, {kat}.",
    ]
    on_disk = read_csv(ws.masked_terms, MASKED_TERMS)
    assert ws.masked_terms.parent == ws.private
    assert on_disk.drop(columns="language").values.tolist() == [
        ["r1", "Kat", "label", kat, 2, 1, 0, 0, True]
    ]
    assert read_csv(ws.replacements, REPLACEMENTS).values.tolist() == [["r1", kat, 2]]


def test_overlap_passes_through_pseudonymisation_unchanged(tmp_path: Path) -> None:
    rows = [("r1", "Anouk", "Ik begin."), ("r1", "Bram", "Ja, ik ook."), ("r1", "Anouk", "Goed.")]
    imported = segments(rows).assign(
        start=[0.0, 3.0, 6.0], end=[4.0, 7.0, 8.0], overlap=[0.0, 1.0, 1.0]
    )  # by hand: 4.0 - 3.0 = 1.0; then 7.0 - 6.0 = 1.0
    ws = _workspace_with_import(tmp_path / "ws", rows)
    write_table(imported, SEGMENTS, ws.imported_segments)
    pseudonymise(ws, load_config(ws))
    out = read_table(ws.segments, SEGMENTS)
    assert out["overlap"].tolist() == [0.0, 1.0, 1.0]
    assert out["speaker"].tolist() != imported["speaker"].tolist()  # it did pseudonymise
