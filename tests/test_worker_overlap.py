"""Overlap marking in the WhisperX worker, on hand-made diarisations.

No pyannote weights are available here, so the pyannote call itself is not run: the pure
functions are checked on plain turns (worker.py imports nothing at module level, so the main
environment can load it), and the conversion of pyannote 4's two annotations plus the real
``assign_word_speakers`` in the WhisperX environment.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from helpers import WHISPERX_PYTHON

REPO = Path(__file__).resolve().parents[1]
WORKER_DIR = REPO / "pipeline" / "transcribe"


def _worker():
    spec = importlib.util.spec_from_file_location("worker", WORKER_DIR / "worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _worker()

# The overlapping diarisation, by hand: A 0-10, B 8-12, A 11-14, C 13-13.5, and A 20-25 with
# A 22-24 inside it (one speaker's own turns overlapping: not two people at once).
OVERLAPPING = [
    {"start": 0.0, "end": 10.0, "speaker": "A"},
    {"start": 8.0, "end": 12.0, "speaker": "B"},
    {"start": 11.0, "end": 14.0, "speaker": "A"},
    {"start": 13.0, "end": 13.5, "speaker": "C"},
    {"start": 20.0, "end": 25.0, "speaker": "A"},
    {"start": 22.0, "end": 24.0, "speaker": "A"},
]
# Two or more speakers: A+B 8-10; B alone 10-11; A+B 11-12; A alone 12-13; A+C 13-13.5.
REGIONS = [(8.0, 10.0), (11.0, 12.0), (13.0, 13.5)]


def test_overlap_regions_by_hand() -> None:
    assert worker.overlap_regions(OVERLAPPING) == REGIONS


def test_touching_stretches_merge_and_a_hand_over_is_no_overlap() -> None:
    # A 0-5, B 3-6, C 5-8: A+B 3-5, then at 5 A stops as C starts: B+C 5-6 -> one stretch 3-6
    turns = [("A", 0.0, 5.0), ("B", 3.0, 6.0), ("C", 5.0, 8.0)]
    merged = [{"start": s, "end": e, "speaker": spk} for spk, s, e in turns]
    assert worker.overlap_regions(merged) == [(3.0, 6.0)]
    # A ends exactly where B starts: nobody speaks at once
    handover = [
        {"start": 0.0, "end": 5.0, "speaker": "A"},
        {"start": 5.0, "end": 9.0, "speaker": "B"},
    ]
    assert worker.overlap_regions(handover) == []
    assert worker.overlap_regions([]) == []


def test_mark_overlap_on_segments_and_words_by_hand() -> None:
    result = {
        "language": "nl",
        "segments": [
            {"start": 0.0, "end": 9.5, "text": "a b c", "words": [
                {"word": "a", "start": 0.0, "end": 1.0},  # before 8: no
                {"word": "b", "start": 7.9, "end": 8.1},  # 0.1 s inside 8-10: yes
                {"word": "c", "start": 9.0, "end": 9.5},  # inside 8-10: yes
            ]},
            {"start": 9.5, "end": 14.0, "text": "d e f", "words": [
                {"word": "d", "start": 10.2, "end": 10.8},  # B alone 10-11: no
                {"word": "e", "start": 12.0, "end": 12.5},  # touches 12, no time inside: no
                {"word": "3", "score": None},  # unaligned: unknown
            ]},
            {"text": "untimed"},
        ],
    }  # fmt: skip
    before = copy.deepcopy(result)
    marked = worker.mark_overlap(result, REGIONS)
    assert result == before, "the input must not change"
    # segment 1: 8-9.5 = 1.5 s; segment 2: 9.5-10 (0.5) + 11-12 (1.0) + 13-13.5 (0.5) = 2.0 s
    assert [s["overlap"] for s in marked["segments"]] == [1.5, 2.0, None]
    words = [w["overlap"] for s in marked["segments"] for w in s.get("words", [])]
    assert words == [False, True, True, False, False, None]
    assert marked["language"] == "nl"


PYANNOTE_CHECK = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pyannote.core import Annotation, Segment
from pyannote.audio.pipelines.speaker_diarization import DiarizeOutput
import worker
spec = json.loads(sys.stdin.read())
def annotation(turns):
    a = Annotation()
    for i, t in enumerate(turns):
        a[Segment(t["start"], t["end"]), f"T{i}"] = t["speaker"]
    return a
output = DiarizeOutput(speaker_diarization=annotation(spec["overlapping"]),
                       exclusive_speaker_diarization=annotation(spec["exclusive"]))
both = worker.pyannote_turns(output)
old = worker.pyannote_turns(annotation(spec["overlapping"]))  # pyannote 3: one Annotation
req = {"assign": {"fill_nearest": False}}
diarisation = {"method": "pyannote", **both}
assigned = worker.step_assign(req, spec["result"], diarisation)
print(json.dumps({"both": both, "old": old, "assigned": assigned}))
"""


@pytest.fixture(scope="module")
def pyannote_run() -> dict:
    if not WHISPERX_PYTHON.is_file():
        pytest.skip("WhisperX environment missing: run `make setup-transcribe`")
    # pyannote would give the 8-10.5 overlap to A in its exclusive diarisation
    exclusive = [
        {"start": 0.0, "end": 10.5, "speaker": "A"},
        {"start": 10.5, "end": 11.5, "speaker": "B"},
        {"start": 11.5, "end": 14.0, "speaker": "A"},
    ]
    result = {
        "segments": [
            {"start": 9.0, "end": 10.4, "text": "ja", "words": [
                {"word": "ja", "start": 9.5, "end": 10.4, "score": 0.9},
            ]},
            {"start": 12.2, "end": 12.9, "text": "nee", "words": [
                {"word": "nee", "start": 12.2, "end": 12.9, "score": 0.9},
            ]},
        ]
    }  # fmt: skip
    spec = {"overlapping": OVERLAPPING[:4], "exclusive": exclusive, "result": result}
    proc = subprocess.run(
        [str(WHISPERX_PYTHON), "-c", PYANNOTE_CHECK, str(WORKER_DIR)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_pyannote_4_keeps_both_diarisations(pyannote_run: dict) -> None:
    both = pyannote_run["both"]
    assert both["assigned_with"] == "exclusive_speaker_diarization"
    assert [(t["start"], t["end"], t["speaker"]) for t in both["turns"]] == [
        (0.0, 10.5, "A"), (10.5, 11.5, "B"), (11.5, 14.0, "A"),
    ]  # fmt: skip
    assert len(both["overlapping_turns"]) == 4
    assert worker.overlap_regions(both["overlapping_turns"]) == REGIONS
    old = pyannote_run["old"]  # pyannote 3's single annotation serves for both
    assert (
        old["assigned_with"] == "speaker_diarization" and old["turns"] == old["overlapping_turns"]
    )


def test_words_take_the_exclusive_speaker_and_the_overlap_mark(pyannote_run: dict) -> None:
    first, second = pyannote_run["assigned"]["segments"]
    # "ja" 9.5-10.4: the overlapping diarisation has B longer there (B 0.9 s, A 0.5 s), the
    # exclusive one has A alone: A it is; 9.5-10 lies in the A+B stretch, so it is in overlap
    assert first["words"][0]["speaker"] == "A" and first["words"][0]["overlap"] is True
    assert first["overlap"] == 1.0  # segment 9-10.4: 9-10 in overlap
    # "nee" 12.2-12.9: A alone (12-13) in both: no overlap
    assert second["words"][0]["speaker"] == "A" and second["words"][0]["overlap"] is False
    assert second["overlap"] == 0.0
