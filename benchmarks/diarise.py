"""``make bench-diarise``: DER (no collar and ±0.25 s), speakers found/true and real-time factor.

Clips: the shared 30 s two-speaker English conversation (hand-made reference turns), and an
eight-voice Dutch espeak-ng "workshop" built here (its turns are known exactly). Diarisers:
senko without and with the true speaker count, and pyannote when ``auto`` would choose it
(a Hugging Face token and the model cached). Espeak voices are far easier to tell apart than
people in a real room: these figures are an upper bound, not what a workshop recording gets.
``BENCH_DEVICE`` (default cpu) picks the device; ``BENCH_TURNS`` the length of the Dutch clip.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from benchmarks import REPO
from benchmarks.democlip import make_clip
from pipeline.core.config import TranscribeConfig
from pipeline.transcribe.choice import choose_diariser
from pipeline.transcribe.evaluate import evaluate, read_rttm_turns

SHARED = REPO.parent / "shared" / "data" / "conversation-sample-en"
PYTHON = REPO / ".venvs" / "whisperx" / "bin" / "python"
WORKER_DIR = REPO / "pipeline" / "transcribe"

VOICES = {
    "Gespreksleider": ("nl", "45"),
    "Marloes": ("nl+f3", "60"),
    "Ahmed": ("nl+m3", "30"),
    "Ineke": ("nl+f1", "75"),
    "Joost": ("nl+m7", "50"),
    "Fatima": ("nl+f5", "85"),
    "Pieter": ("nl+m2", "20"),
    "Sanne": ("nl+f4", "55"),
}
LINES = (
    "Ik vind dat de gemeente eerst naar de bewoners moet luisteren.",
    "Dat klopt, maar wie betaalt uiteindelijk de rekening van dit plan?",
    "Bij ons in de straat weet niemand wat er met de gegevens gebeurt.",
    "Mijn buurvrouw heeft geen computer en kan dus nergens meer terecht.",
    "We hebben het al jaren over vertrouwen, maar er verandert weinig.",
    "Misschien moeten we kleinschalig beginnen, met een proef in een wijk.",
    "De toeslagenaffaire heeft laten zien hoe het mis kan gaan.",
    "Ik wil graag weten wie er verantwoordelijk is als het systeem faalt.",
)

RUN = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import whisperx, worker
jobs = json.load(sys.stdin)
out = []
for job in jobs:
    audio = whisperx.load_audio(job["audio"])
    req = {"device": job["device"], "threads": job["threads"], "audio": job["audio"],
           "diarise": {"method": job["method"], "min_speakers": job["count"],
                       "max_speakers": job["count"], "model": job["model"],
                       "model_dir": None, "num_speakers": None}}
    began = time.perf_counter()
    result = worker.step_diarise(req, audio)
    out.append({"seconds": time.perf_counter() - began, "audio": len(audio) / 16000, **result})
print(json.dumps(out))
"""


def dutch_clip(folder: Path, turns: int) -> tuple[Path, Path]:
    """Eight voices, each line said by a different voice in a shuffled but fixed order."""
    names = list(VOICES)
    script = tuple(
        (names[(i * 3 + i // len(names)) % len(names)], LINES[i % len(LINES)]) for i in range(turns)
    )
    video = make_clip(folder, script=script, voices=VOICES, pause=0.6)
    return video, folder / "workshop.rttm"


def main() -> None:
    device = os.environ.get("BENCH_DEVICE", "cpu")
    threads = os.cpu_count() or 1
    config = TranscribeConfig()
    choice = choose_diariser(config, dict(os.environ))
    with tempfile.TemporaryDirectory() as tmp:
        video, rttm = dutch_clip(Path(tmp), int(os.environ.get("BENCH_TURNS", "32")))
        clips = [
            ("English conversation (real, 30 s)", SHARED / "sample.wav", SHARED / "sample.rttm"),
            ("Dutch espeak-ng, 8 voices", video, rttm),
        ]
        jobs, labels = [], []
        for name, audio, reference in clips:
            turns = read_rttm_turns(reference)  # read now: the clip's folder goes
            true = len({t[2] for t in turns})
            runs = [("senko", None), ("senko", true)]
            if choice.method == "pyannote":
                runs += [("pyannote", None), ("pyannote", true)]
            for method, count in runs:
                jobs.append(
                    {
                        "audio": str(audio),
                        "device": device,
                        "threads": threads,
                        "method": method,
                        "count": count,
                        "model": config.diarise_model,
                    }
                )
                labels.append((name, turns, true, method, count))
        proc = subprocess.run(
            [str(PYTHON), "-c", RUN, str(WORKER_DIR)],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": str(threads)},
        )
        results = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"diariser choice of `auto` here: {choice.method} ({choice.why}); device {device}")
    header = f"{'clip':36} {'diariser':22} {'DER':>7} {'DER±.25':>8} {'JER±.25':>8} spk  RTF"
    print(header)
    for (name, ref, true, method, count), result in zip(labels, results, strict=True):
        hyp = [(t["start"], t["end"], t["speaker"]) for t in result["turns"]]
        plain, collar = evaluate(ref, hyp), evaluate(ref, hyp, collar=0.25)
        found = len({t[2] for t in hyp})
        how = f"{method} " + (f"count {count}" if count else "no count")
        print(
            f"{name:36} {how:22} {plain.der:7.1%} {collar.der:8.1%} {collar.jer:8.1%} "
            f"{found}/{true}  {result['seconds'] / result['audio']:.2f}"
        )
    print(
        "Espeak voices are far easier to tell apart than people in a real room: the Dutch "
        "figures are an upper bound. RTF includes loading senko's models once per run."
    )


if __name__ == "__main__":
    main()
