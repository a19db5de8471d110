"""pyannote 4's two diarisations kept by the WhisperX worker, on hand-made annotations.

No pyannote weights are available here, so the pyannote call itself is not run: the pure
functions are checked on plain turns (worker.py imports nothing at module level, so the main
environment can load it), and the conversion of pyannote 4's two annotations plus the real
``assign_word_speakers`` in the WhisperX environment.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from helpers import WHISPERX_PYTHON

from pipeline.core.timing import crosstalk

REPO = Path(__file__).resolve().parents[1]
WORKER_DIR = REPO / "pipeline" / "transcribe"


def _worker():
    spec = importlib.util.spec_from_file_location("worker", WORKER_DIR / "worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _worker()

# The overlapping diarisation, by hand: A 0-10, B 8-12, A 11-14, C 13-13.5.
OVERLAPPING = [
    {"start": 0.0, "end": 10.0, "speaker": "A"},
    {"start": 8.0, "end": 12.0, "speaker": "B"},
    {"start": 11.0, "end": 14.0, "speaker": "A"},
    {"start": 13.0, "end": 13.5, "speaker": "C"},
]
# Two or more speakers: A+B 8-10; B alone 10-11; A+B 11-12; A alone 12-13; A+C 13-13.5.
REGIONS = [(8.0, 10.0), (11.0, 12.0), (13.0, 13.5)]


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
    spec = {"overlapping": OVERLAPPING, "exclusive": exclusive, "result": result}
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
    kept = [(t["start"], t["end"], t["speaker"]) for t in both["overlapping_turns"]]
    assert crosstalk(kept) == REGIONS  # what `cda import` measures overlap on
    old = pyannote_run["old"]  # pyannote 3's single annotation serves for both
    assert (
        old["assigned_with"] == "speaker_diarization" and old["turns"] == old["overlapping_turns"]
    )


def test_words_take_the_exclusive_speaker(pyannote_run: dict) -> None:
    first, second = pyannote_run["assigned"]["segments"]
    # "ja" 9.5-10.4: the overlapping diarisation has B longer there (B 0.9 s, A 0.5 s), the
    # exclusive one has A alone: A it is
    assert first["words"][0]["speaker"] == "A" and first["speaker"] == "A"
    # "nee" 12.2-12.9: A alone (12-13) in both
    assert second["words"][0]["speaker"] == "A"
    # overlap is measured by the import on the stored diarisation (tests/test_timing.py), so
    # the transcript carries no second, different measure of it
    assert "overlap" not in first and "overlap" not in first["words"][0]
