"""``make bench-transcribe``: real-time factor per step (and WER) on real audio, this machine.

Audio: the 30 s two-speaker English conversation that ships with pyannote-audio (with its
reference transcript and speaker turns), and the generated two-voice Dutch video. Settings come
from the environment so the same command measures a GPU with a bigger model:
``BENCH_MODEL`` (default: the offline whisper base in ``.models``), ``BENCH_DEVICE``
(``auto``), ``BENCH_BATCH`` (8), ``BENCH_REPEAT`` (copies of each clip, to amortise loading).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from benchmarks import REPO
from benchmarks.democlip import make_clip
from benchmarks.wer import read_stm, wer
from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.paths import Workspace
from pipeline.ingest import register_media
from pipeline.transcribe import real_time_factor, run_transcribe


def pyannote_sample(python: Path) -> Path:
    code = "import os, pyannote.audio as p; print(os.path.dirname(p.__file__))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip()) / "sample"


def bench(name: str, media: Path, rttm: Path, language: str, settings: dict, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.at(tmp)
        init_workspace(ws, study="bench", groups=["g"])
        config = {
            "study": "bench",
            "language": language,
            "groups": ["g"],
            "transcribe": {**settings, "diarise_method": "rttm", "align": False},
        }
        ws.config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        for copy in range(repeat):
            rid = f"{name}-{copy}"
            register_media(ws, load_config(ws), media, recording_id=rid, group="g")
            shutil.copy(rttm, ws.raw / f"{rid}.rttm")
        outcomes = run_transcribe(ws, load_config(ws))
        result = json.loads(ws.transcript_json(f"{name}-0").read_text(encoding="utf-8"))
        text = " ".join(s["text"] for s in result["segments"])
        return {"outcomes": outcomes, "text": text}


def main() -> None:
    python = REPO / ".venvs" / "whisperx" / "bin" / "python"
    settings = {
        "model": os.environ.get("BENCH_MODEL", str(REPO / ".models" / "whisper-base")),
        "device": os.environ.get("BENCH_DEVICE", "auto"),
        "batch_size": int(os.environ.get("BENCH_BATCH", "8")),
        "chunk_size": 5,
    }
    repeat = int(os.environ.get("BENCH_REPEAT", "1"))
    sample = pyannote_sample(python)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp))
        runs = {
            "conversation-en": bench(
                "conv", sample / "sample.wav", sample / "sample.rttm", "en", settings, repeat
            ),
            "espeak-nl": bench("clip", clip, clip.with_suffix(".rttm"), "nl", settings, repeat),
        }
    print(f"model {settings['model']}, batch {settings['batch_size']}, {os.cpu_count()} cores")
    for name, run in runs.items():
        o = run["outcomes"]
        rtf = real_time_factor(o)
        steps = "  ".join(f"{k} {v:.3f}" for k, v in rtf.items())
        print(
            f"{name:<16} {o[0].device}/{o[0].compute_type}  audio {sum(x.duration for x in o):.0f}s"
            f"  RTF {steps}"
        )
    reference = read_stm(sample / "sample.stm")
    print(f"WER conversation-en: {wer(reference, runs['conversation-en']['text']):.3f}")


if __name__ == "__main__":
    main()
