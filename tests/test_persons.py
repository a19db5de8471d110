"""The same person across recordings: the ``person`` column of the speaker key
(pipeline.pseudonymise.persons) and what the report then counts."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from helpers import PARLAMINT, word_tokens

from pipeline.codebook import Codebook
from pipeline.core.config import PseudonymiseConfig, load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_csv, read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import NAMES, SEGMENTS, SPEAKER_KEY, WORDS
from pipeline.pseudonymise import pseudonymise, pseudonymise_tables
from pipeline.report.themes import absent_themes, prevalence, speaker_shares

CFG = PseudonymiseConfig()
BOOK = Codebook.model_validate(
    {
        "study": "proef",
        "round": 1,
        "codes": [{"id": "wonen", "label": "Wonen", "description": "d"}],
    }
)

# (recording, group, label, text): two workshops of one group; the participant who is
# SPEAKER_01 in w1 is SPEAKER_00 in w2
ROWS = [
    ("w1", "burgers", "Gespreksleider", "Welkom allemaal."),
    ("w1", "burgers", "SPEAKER_00", "Ik woon hier al lang."),
    ("w1", "burgers", "SPEAKER_01", "De huur is te hoog."),
    ("w2", "burgers", "Gespreksleider", "Welkom terug."),
    ("w2", "burgers", "SPEAKER_00", "Nog steeds te hoge huur."),
    ("w2", "burgers", "SPEAKER_01", "Ik ben nieuw hier."),
]


def segments(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    counters: Counter[str] = Counter()
    records = []
    for rid, group, speaker, text in rows:
        counters[rid] += 1
        n = counters[rid]
        records.append(
            {
                "recording_id": rid,
                "group": group,
                "segment_id": f"{rid}-{n:04d}",
                "start": 10.0 * n,
                "end": 10.0 * n + 8.0,
                "overlap": 0.0,
                "speaker": speaker,
                "role": "unknown",
                "text": text,
                "source": "import:test",
            }
        )
    return pd.DataFrame(records, columns=SEGMENTS.names)


def run(rows, key: pd.DataFrame | None = None):
    return pseudonymise_tables(
        segments(rows),
        WORDS.empty(),
        SPEAKER_KEY.empty() if key is None else key,
        NAMES.empty(),
        CFG,
    )


def with_person(key: pd.DataFrame, persons: dict[tuple[str, str], str]) -> pd.DataFrame:
    key = key.copy()
    pairs = zip(key["recording_id"], key["label"], strict=True)
    key["person"] = [persons.get(pair) for pair in pairs]
    return key


def row_of(key: pd.DataFrame, rid: str, label: str) -> pd.Series:
    hit = key[(key["recording_id"] == rid) & (key["label"] == label)]
    assert len(hit) == 1
    return hit.iloc[0]


SAME = {("w1", "SPEAKER_01"): "huurder-1", ("w2", "SPEAKER_00"): "huurder-1"}


# one pseudonym per person --------------------------------------------------------------------


def test_rows_of_one_person_get_the_earliest_pseudonym_and_the_segments_carry_it() -> None:
    first = run(ROWS).key
    # by hand: F01 Gespreksleider (a named label: one speaker in both workshops), w1: P01 P02,
    # w2: P03 P04. The person is w1/SPEAKER_01 (P02) and w2/SPEAKER_00 (P03): P02, the lowest.
    assert first["pseudonym"].tolist() == ["F01", "P01", "P02", "F01", "P03", "P04"]
    second = run(ROWS, key=with_person(first, SAME))
    assert second.key["pseudonym"].tolist() == ["F01", "P01", "P02", "F01", "P02", "P04"]
    assert second.segments["speaker"].tolist() == ["F01", "P01", "P02", "F01", "P02", "P04"]
    assert [(m.recording_id, m.before, m.after) for m in second.person_merges] == [
        ("w2", "P03", "P02")
    ]
    assert row_of(second.key, "w2", "SPEAKER_00")["person"] == "huurder-1"
    # the next run changes nothing; numbering goes on after the highest number in use (P04)
    third = run([*ROWS, ("w3", "burgers", "SPEAKER_00", "Hallo.")], key=second.key)
    assert third.person_merges == ()
    assert third.key.iloc[:6].fillna("").values.tolist() == second.key.fillna("").values.tolist()
    assert third.key["pseudonym"].tolist()[-1] == "P05"


def test_a_hand_chosen_pseudonym_wins_over_a_generated_one() -> None:
    key = with_person(run(ROWS).key, SAME)
    key.loc[(key["recording_id"] == "w2") & (key["label"] == "SPEAKER_00"), "pseudonym"] = "Huurder"
    out = run(ROWS, key=key)
    assert row_of(out.key, "w1", "SPEAKER_01")["pseudonym"] == "Huurder"
    assert out.segments["speaker"].tolist()[2] == "Huurder"


def test_person_ids_are_trimmed_and_compared_in_nfc() -> None:
    persons = {("w1", "SPEAKER_01"): " Zoe\u0308 ", ("w2", "SPEAKER_00"): "Zo\u00eb"}
    out = run(ROWS, key=with_person(run(ROWS).key, persons))
    assert out.segments["speaker"].tolist()[4] == "P02"


def test_a_named_label_in_a_new_recording_inherits_the_person() -> None:
    rows = [("w1", "burgers", "Anouk", "Hoi."), ("w2", "burgers", "SPEAKER_00", "Hallo.")]
    key = with_person(run(rows).key, {("w1", "Anouk"): "a", ("w2", "SPEAKER_00"): "a"})
    out = run([*rows, ("w3", "burgers", "Anouk", "Weer hier.")], key=key)
    new = row_of(out.key, "w3", "Anouk")
    assert (new["pseudonym"], new["person"]) == ("P01", "a")
    assert out.segments["speaker"].tolist() == ["P01", "P01", "P01"]


# refusals ------------------------------------------------------------------------------------


def refused(rows, key: pd.DataFrame) -> str:
    with pytest.raises(CdaError) as err:
        run(rows, key=key)
    return f"{err.value} | {err.value.hint}"


def test_two_persons_sharing_a_pseudonym_are_refused() -> None:
    key = with_person(run(ROWS).key, {("w1", "SPEAKER_00"): "a", ("w2", "SPEAKER_01"): "b"})
    key.loc[5, "pseudonym"] = "P01"  # w2/SPEAKER_01 (file row 7) typed as P01, person a's
    message = refused(ROWS, key)
    assert "data/private/speakers.csv: pseudonym P01 is shared by" in message
    assert "row 3 (recording w1)" in message and "row 7 (recording w2)" in message
    assert "the next free one is P04" in message  # P03 is the highest number in use


def test_two_labels_sharing_a_pseudonym_without_a_person_are_refused() -> None:
    # a typo that would silently merge two speakers' talk in every speaker count
    key = run(ROWS).key
    key.loc[5, "pseudonym"] = "P01"
    message = refused(ROWS, key)
    assert "P01 is shared by a recording's label (no person) (row 3 (recording w1))" in message
    assert "'person' column" in message


def test_one_person_with_two_hand_chosen_pseudonyms_is_refused() -> None:
    key = with_person(run(ROWS).key, SAME)
    key.loc[2, "pseudonym"] = "Huurder"
    key.loc[4, "pseudonym"] = "Bewoner"
    message = refused(ROWS, key)
    assert "one person has 2 pseudonyms chosen by hand" in message
    assert "row 4 (recording w1): Huurder" in message
    assert "row 6 (recording w2): Bewoner" in message


def test_a_facilitator_and_a_participant_as_one_person_are_refused() -> None:
    key = with_person(run(ROWS).key, {("w1", "Gespreksleider"): "x", ("w2", "SPEAKER_01"): "x"})
    message = refused(ROWS, key)
    assert (
        "one person is facilitator in row 2 (recording w1) and participant in row 7 (recording w2)"
        in message
    )


def test_a_person_in_two_groups_is_refused() -> None:
    rows = [(r, "deskundigen" if r == "w2" else g, lbl, t) for r, g, lbl, t in ROWS]
    key = with_person(run(rows).key, SAME)
    message = refused(rows, key)
    assert (
        "group 'burgers' in row 4 (recording w1) and group 'deskundigen' in row 6 (recording w2)"
        in message
    )


def test_a_person_on_the_unknown_speaker_is_refused() -> None:
    rows = [*ROWS, ("w2", "burgers", "unknown", "(onverstaanbaar)")]
    key = with_person(run(rows).key, {("w2", "unknown"): "a", ("w1", "SPEAKER_00"): "a"})
    assert "row 8 (recording w2) gives a person to the unknown speaker" in refused(rows, key)


def test_messages_never_show_labels_or_person_ids() -> None:
    rows = [("w1", "burgers", "Anouk", "Hoi."), ("w2", "burgers", "Bram", "Hallo.")]
    key = with_person(run(rows).key, {("w1", "Anouk"): "Anouk Jansen"})
    key.loc[1, "pseudonym"] = "P01"
    message = refused(rows, key)
    assert "Anouk" not in message and "Bram" not in message and "P01" in message


# files ---------------------------------------------------------------------------------------


def workspace(root: Path, rows) -> Workspace:
    ws = Workspace.at(root)
    ws.root.mkdir(parents=True, exist_ok=True)
    groups = sorted({g for _, g, _, _ in rows})
    ws.config_file.write_text(f"study: proef\ngroups: [{', '.join(groups)}]\n", encoding="utf-8")
    write_table(segments(rows), SEGMENTS, ws.imported_segments)
    write_table(WORDS.empty(), WORDS, ws.imported_words)
    return ws


def test_a_key_without_the_person_column_stays_byte_identical(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws", ROWS)
    pseudonymise(ws, load_config(ws))
    with open(ws.speaker_key, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[-1] == "person"  # a new key offers the column
    # a key as written before the column existed: the same rows, five columns
    old = read_csv(ws.speaker_key, SPEAKER_KEY).drop(columns=["person"])
    ws.speaker_key.write_text(old.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
    before_key = ws.speaker_key.read_bytes()
    before_segments = ws.segments.read_bytes()
    ws.segments.unlink()
    pseudonymise(ws, load_config(ws))
    assert ws.speaker_key.read_bytes() == before_key
    assert b"person" not in before_key
    assert ws.segments.read_bytes() == before_segments


def test_a_person_written_in_the_file_merges_and_a_refusal_writes_nothing(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws", ROWS)
    pseudonymise(ws, load_config(ws))
    with open(ws.speaker_key, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["person"] = SAME.get((row["recording_id"], row["label"]), "")
    with open(ws.speaker_key, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    pseudonymise(ws, load_config(ws))
    out = read_table(ws.segments, SEGMENTS)
    assert out["speaker"].tolist() == ["F01", "P01", "P02", "F01", "P02", "P04"]
    key = read_csv(ws.speaker_key, SPEAKER_KEY)
    assert row_of(key, "w2", "SPEAKER_00")["pseudonym"] == "P02"

    # the same person also in a recording of another group: refused, nothing rewritten
    key_bytes, segment_bytes = ws.speaker_key.read_bytes(), ws.segments.read_bytes()
    ws = workspace(ws.root, [(r, "deskundigen" if r == "w2" else g, s, t) for r, g, s, t in ROWS])
    with pytest.raises(CdaError, match=r"speakers\.csv: one person is in group"):
        pseudonymise(ws, load_config(ws))
    assert ws.speaker_key.read_bytes() == key_bytes
    assert ws.segments.read_bytes() == segment_bytes


# what the report counts ----------------------------------------------------------------------


def test_the_report_counts_a_person_once_across_workshops() -> None:
    """By hand: 'wonen' is coded on the rent turns, w1-0003 (w1/SPEAKER_01) and w2-0002
    (w2/SPEAKER_00), both the same tenant. Without the mapping these are P02 and P03: 2
    speakers, and the theme is not thin (at 2 segments and 2 speakers). With it both are P02:
    1 speaker,
    2 segments, 16 s of the group's 4 × 8 = 32 s of participant talk (share 0.5), and thin.
    Per speaker: P02 spends 16 of 16 s on it (share 1.0), P01 and P04 0 of 8 s."""
    assigned = pd.DataFrame({"segment_id": ["w1-0003", "w2-0002"], "code": "wonen"})

    def figures(result):
        seg = result.segments
        table = prevalence(seg, assigned, BOOK, tokens=word_tokens(seg))
        return (
            table,
            absent_themes(table, BOOK, thin_segments=2)[0],
            speaker_shares(seg, assigned, "wonen", tokens=word_tokens(seg)),
        )

    first = run(ROWS)
    table, thin, _ = figures(first)
    assert table[["segments", "speakers", "seconds"]].values.tolist() == [[2, 2, 16.0]]
    assert thin == []

    table, thin, shares = figures(run(ROWS, key=with_person(first.key, SAME)))
    assert table[["segments", "speakers", "seconds", "share"]].values.tolist() == [
        [2, 1, 16.0, 0.5]
    ]
    assert [(t["status"], t["speakers"]) for t in thin] == [("thin", 1)]
    assert shares.set_index("speaker")["share"].to_dict() == {"P01": 0.0, "P02": 1.0, "P04": 0.0}


# the real debate -----------------------------------------------------------------------------


def test_the_parlamint_debate_split_in_two_sessions_counts_its_members_once() -> None:
    """The shared debate (101 turns) as two diarised sessions of one group: turns 1-50 and
    51-101, each speaker labelled SPEAKER_NN in order of first turn, as a diariser would; the
    ParlaMint person id (``who``) is the truth the analyst writes into ``person``.

    By hand (cut -f2 turns.tsv | sort -u per half): the first half has 12 people, the chair
    and 11 members or ministers; the second 5, the chair and 4 (Van Huffelen, Mulder, Azarkan,
    Idsinga), all 4 also in the first half. Labels give 11 + 4 = 15 participant pseudonyms;
    persons give 11. With every participant turn on one theme, the theme is raised by 15
    speakers without the mapping and by 11 with it."""
    if not PARLAMINT.exists():
        pytest.skip(f"shared data missing: {PARLAMINT}")
    turns = pd.read_csv(PARLAMINT, sep="\t", dtype=str, keep_default_na=False)
    assert len(turns) == 101
    rows, who_of, chair = [], {}, []
    for n, turn in enumerate(turns.itertuples(index=False)):
        rid = "debat-a" if n < 50 else "debat-b"
        labels = who_of.setdefault(rid, {})
        label = labels.setdefault(turn.who, f"SPEAKER_{len(labels):02d}")
        if turn.role == "chair":
            chair.append(f"{rid}:{label}")
        rows.append((rid, "kamer", label, turn.text))
    cfg = CFG.model_copy(update={"facilitator_labels": sorted(set(chair))})
    segs = segments(rows)

    def result(key):
        return pseudonymise_tables(segs, WORDS.empty(), key, NAMES.empty(), cfg)

    first = result(SPEAKER_KEY.empty())
    persons = {(r, lbl): who for r, labels in who_of.items() for who, lbl in labels.items()}
    second = result(with_person(first.key, persons))

    def speakers(res) -> tuple[int, int]:
        seg = res.segments
        part = seg[seg["role"] == "participant"]
        assigned = pd.DataFrame({"segment_id": part["segment_id"], "code": "wonen"})
        table = prevalence(seg, assigned, BOOK, tokens=word_tokens(seg))
        return part["speaker"].nunique(), int(table["speakers"].sum())

    assert speakers(first) == (15, 15)
    assert speakers(second) == (11, 11)
    assert len(second.person_merges) == 5  # the 4 members and the chair of the second half
    assert set(second.segments.loc[second.segments["role"] == "facilitator", "speaker"]) == {"F01"}


# voices --------------------------------------------------------------------------------------

VOICE_EMBEDDING_APIS = (
    "return_embeddings",  # pyannote's diarisation pipeline handing its speaker vectors out
    "pyannote/embedding",
    "pyannote/wespeaker",
    "speechbrain",
    "speaker_embedding",
    "voice_embedding",
)


def test_nothing_asks_for_voice_embeddings() -> None:
    """A voice is biometric data (GDPR art. 9): no suggestion of matches from speaker
    embeddings is built, so no code may ask a diariser for its speaker vectors or load a
    speaker-embedding model. A later voice-match suggestion must come with a recorded consent
    flag, and this test changes with it."""
    root = Path(__file__).resolve().parents[1] / "pipeline"
    hits = [
        f"{path.relative_to(root.parent)}: {api}"
        for path in sorted(root.rglob("*.py"))
        for api in VOICE_EMBEDDING_APIS
        if api in path.read_text(encoding="utf-8").lower()
    ]
    assert hits == []
