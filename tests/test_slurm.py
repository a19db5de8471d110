"""``cda transcribe --slurm`` on a real single-node SLURM cluster (tests/slurm_cluster.py).

The array script is submitted with ``sbatch --wait``; its two tasks run the real WhisperX
worker (whisper base, CPU) on two pieces cut from the shared English conversation, with the
reference speaker turns cut by hand alongside. ``cda run transcribe`` (what ``make transcribe``
calls) then has to collect the cached steps without running a worker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import WHISPERX_PYTHON, missing
from slurm_cluster import Cluster, missing_binaries, slurm_conf, start_cluster, stop

from benchmarks.wer import wer
from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS
from pipeline.importers import import_transcripts
from pipeline.ingest import register_media
from pipeline.transcribe import collect, plan, usable_cpus
from pipeline.transcribe.jobs import Job
from pipeline.transcribe.models import whisper_base

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "conversation-sample-en" / "sample.wav"
CDA = [sys.executable, "-m", "pipeline"]

# The shared 30 s conversation cut in two at 14.3 s, between "This is Diane in New Jersey"
# (ends 14.184 s in sample.stm) and "And I'm Sheila in Texas" (starts 14.444 s).
CUT = 14.3
# sample.rttm cut by hand: turns before 14.3 s as they are, the turn 10.570+4.130 ending there
# (3.730); turns after it shifted by -14.3 (10.570..14.700 -> 0.000+0.400, 14.490 -> 0.190,
# 18.050 -> 3.750, 18.150 -> 3.850, 21.780 -> 7.480, 27.850 -> 13.550).
TURNS = {
    "part1": [
        ("speaker90", 6.690, 0.430),
        ("speaker91", 7.550, 0.800),
        ("speaker90", 8.320, 1.700),
        ("speaker91", 9.920, 1.110),
        ("speaker90", 10.570, 3.730),
    ],
    "part2": [
        ("speaker90", 0.000, 0.400),
        ("speaker91", 0.190, 3.430),
        ("speaker90", 3.750, 3.440),
        ("speaker91", 3.850, 0.440),
        ("speaker91", 7.480, 6.720),
        ("speaker90", 13.550, 2.150),
    ],
}
# sample.stm's words on each side of the cut
REFERENCE = {
    "part1": "Hello? Hello? Oh, hello. I didn't know you were there. Neither did I. Okay, then I "
    "thought you know, I heard a beep. This is Diane in New Jersey.",
    "part2": "And I'm Sheila in Texas, originally from Chicago. Oh, I'm originally from Chicago "
    "also. I'm in New Jersey now though. Well, there isn't that much difference. At least you "
    "know, they all call me a Yankee down here, so what can I say? Oh, I don't hear that in "
    "New Jersey now.",
}


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A running one-node cluster (``Cluster.env`` reaches it), torn down after the module."""
    absent = missing_binaries()
    if absent:
        missing(
            f"SLURM not installed ({', '.join(absent)}): apt-get install slurm-wlm munge",
            "CDA_REQUIRE_SLURM",
        )
    cluster, procs = start_cluster(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster
    finally:
        cluster.run("scancel", "--partition", cluster.partition, timeout=20)
        stop(procs)


@pytest.fixture(scope="module")
def whisperx() -> dict:
    """The WhisperX python and whisper base, as in tests/test_transcribe.py."""
    if not WHISPERX_PYTHON.is_file():
        missing("WhisperX environment missing: run `make setup-transcribe`", "CDA_REQUIRE_WHISPERX")
    if shutil.which("ffmpeg") is None:
        missing("ffmpeg missing", "CDA_REQUIRE_WHISPERX")
    try:
        model = whisper_base(REPO / ".models" / "whisper-base")
    except CdaError as exc:
        missing(f"whisper base unavailable: {exc}", "CDA_REQUIRE_WHISPERX")
    return {"python": str(WHISPERX_PYTHON), "model": str(model)}


def cut_clips(folder: Path) -> dict[str, Path]:
    """The two parts of the shared conversation as 16 kHz WAVs, with their RTTMs beside them."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    folder.mkdir(parents=True, exist_ok=True)
    clips = {}
    for rid, window in (("part1", ["-t", str(CUT)]), ("part2", ["-ss", str(CUT)])):
        wav = folder / f"{rid}.wav"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(SAMPLE), *window, "-ac", "1", "-ar",
             "16000", str(wav)],
            check=True,
        )  # fmt: skip
        wav.with_suffix(".rttm").write_text(
            "".join(
                f"SPEAKER {rid} 1 {start:.3f} {dur:.3f} <NA> <NA> {who} <NA> <NA>\n"
                for who, start, dur in TURNS[rid]
            )
        )
        clips[rid] = wav
    return clips


def most_overlap(turns: list[tuple[str, float, float]], segment: dict) -> str:
    """The speaker whose turns cover most of the segment (how WhisperX assigns speakers).

    E.g. part1's first VAD segment, 6.71-11.64 s on this machine: speaker90 0.41 + 1.70 + 1.07
    = 3.18 s (6.690-7.120, 8.320-10.020, 10.570-11.640), speaker91 0.80 + 1.11 = 1.91 s
    (7.550-8.350, 9.920-11.030): speaker90, though both speak in it.
    """
    cover: dict[str, float] = {}
    for who, start, dur in turns:
        shared = min(segment["end"], start + dur) - max(segment["start"], start)
        cover[who] = cover.get(who, 0.0) + max(0.0, shared)
    return max(cover, key=cover.__getitem__)


def study(root: Path, clips: dict[str, Path], transcribe: dict) -> Workspace:
    ws = Workspace.at(root)
    init_workspace(ws, study="cluster", groups=["burgers", "deskundigen"])
    config = {
        "study": "cluster",
        "language": "en",
        "groups": ["burgers", "deskundigen"],
        "transcribe": transcribe,
    }
    ws.config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    for rid, wav in clips.items():
        register_media(ws, load_config(ws), wav, recording_id=rid, group="burgers")
        shutil.copy(wav.with_suffix(".rttm"), ws.raw / f"{rid}.rttm")
    return ws


# pure: the threads a worker gets -------------------------------------------------------------


def test_a_slurm_task_uses_its_allocation_not_the_whole_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert usable_cpus({"SLURM_CPUS_PER_TASK": "3"}) == 3
    assert usable_cpus({}) == len(os.sched_getaffinity(0))
    assert usable_cpus({"SLURM_CPUS_PER_TASK": "0"}) == len(os.sched_getaffinity(0))
    ws = study(tmp_path / "ws", cut_clips(tmp_path / "clips"), {"diarise_method": "rttm"})
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert {job.request["threads"] for job in plan(ws, load_config(ws))} == {3}
    # two recordings at once in a 3-CPU task: one thread each (3 // 2), never 0
    assert {job.request["threads"] for job in plan(ws, load_config(ws), jobs=2)} == {1}
    assert {job.request["threads"] for job in plan(ws, load_config(ws), jobs=8)} == {1}


def test_collect_refuses_pending_steps_and_runs_nothing(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="t", groups=["burgers"])
    config = load_config(ws)
    done = Job("a", tmp_path / "a.wav", 30.0, (), {"asr": "k"}, {})
    todo = [Job(f"r{i}", tmp_path / "r.wav", 30.0, ("diarise", "assign"), {}, {})
            for i in range(7)]  # fmt: skip
    with pytest.raises(CdaError) as info:
        collect(ws, config, [done, *todo])
    message = info.value.message
    assert message.startswith("transcribe --collect: 7 recording(s) still have steps to run:")
    assert "r0 (diarise+assign); r1 (diarise+assign)" in message and "and 2 more" in message
    assert "a (" not in message and "DIR/*.log" in info.value.hint
    assert not ws.transcribe_index.exists(), "nothing may be written when refusing"


def test_cluster_configuration_is_self_contained(tmp_path: Path) -> None:
    text = slurm_conf(
        tmp_path,
        node="n1",
        node_spec="NodeName=n1 CPUs=4 RealMemory=8000",
        socket_path=tmp_path / "munge" / "munge.socket",
    )
    conf = dict(line.split("=", 1) for line in text.splitlines() if line.count("=") == 1)
    for key in ("StateSaveLocation", "SlurmdSpoolDir", "SlurmctldLogFile", "SlurmdPidFile"):
        assert conf[key].startswith(str(tmp_path)), key
    assert conf["ProctrackType"] == "proctrack/linuxproc" and conf["TaskPlugin"] == "task/none"
    assert conf["AccountingStorageType"] == "accounting_storage/none"
    assert f"AuthInfo=socket={tmp_path}/munge/munge.socket" in text
    assert "NodeName=n1 CPUs=4 RealMemory=8000 NodeAddr=127.0.0.1" in text


# the real cluster -----------------------------------------------------------------------------


@pytest.mark.slow
def test_cluster_runs_an_array_one_task_per_index(slurm_cluster: Cluster, tmp_path: Path) -> None:
    script = tmp_path / "array.sbatch"
    script.write_text(
        "#!/bin/bash\n#SBATCH --array=0-1\n#SBATCH --cpus-per-task=1\n#SBATCH --mem=100M\n"
        f"#SBATCH --output={tmp_path}/%A_%a.log\n"
        'echo "$SLURM_ARRAY_TASK_ID $SLURM_CPUS_PER_TASK $SLURMD_NODENAME"\n'
    )
    result = slurm_cluster.run("sbatch", "--wait", "--parsable", str(script), timeout=120)
    assert result.returncode == 0, result.stderr
    job = result.stdout.strip().split(";")[0]
    lines = [(tmp_path / f"{job}_{i}.log").read_text().split() for i in (0, 1)]
    assert lines == [["0", "1", slurm_cluster.node], ["1", "1", slurm_cluster.node]]


@pytest.mark.slow
def test_sbatch_array_transcribes_and_make_transcribe_collects(
    slurm_cluster: Cluster, whisperx: dict, tmp_path: Path
) -> None:
    clips = cut_clips(tmp_path / "clips")
    ws = study(
        tmp_path / "ws",
        clips,
        {
            **whisperx,
            "align": False,
            "chunk_size": 5,
            "diarise_method": "rttm",
            "slurm": {"partition": slurm_cluster.partition, "cpus": 1, "mem": "3G", "gpus": 0,
                      "time": "00:20:00", "setup": ['echo "setup on $SLURMD_NODENAME"']},
        },
    )  # fmt: skip
    path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**slurm_cluster.env, "PYTHONPATH": os.pathsep.join(path)}
    folder = tmp_path / "slurm"
    written = subprocess.run(
        [*CDA, "transcribe", "--workspace", str(ws.root), "--slurm", str(folder)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert "(2 task(s))" in " ".join(written.stdout.split())  # rich wraps long paths
    assert (folder / "recordings.txt").read_text().split() == ["part1", "part2"]
    assert not ws.transcribe_index.exists()
    # collecting before the array ran refuses and names what is pending, running nothing
    early = subprocess.run(
        [*CDA, "transcribe", "--workspace", str(ws.root), "--collect"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip
    said = " ".join((early.stdout + early.stderr).split())
    assert early.returncode == 2, said
    assert "2 recording(s) still have steps to run: part1 (asr+diarise+assign); part2" in said
    assert not ws.transcribe_index.exists() and not list(ws.transcribe_dir.glob("*/steps.json"))

    submitted = subprocess.run(
        ["sbatch", "--wait", "--parsable", str(folder / "transcribe.sbatch")],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=900,
    )  # fmt: skip
    job = submitted.stdout.strip().split(";")[0]
    logs = {rid: folder / f"{job}_{i}.log" for i, rid in enumerate(("part1", "part2"))}
    assert submitted.returncode == 0, "\n".join(
        f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs.values() if p.is_file()
    )

    # each array task ran the real worker for its own recording, on its allocation
    for log in logs.values():  # the setup lines ran first, on the cluster's node
        assert log.read_text().startswith(f"setup on {slurm_cluster.node}\n")
    stamps = {}
    for rid in ("part1", "part2"):
        folder_rid = ws.transcribe_dir / rid
        state = json.loads((folder_rid / "steps.json").read_text())
        assert set(state) == {"asr", "diarise", "assign"}
        assert {s["device"] for s in state.values()} == {"cpu"}
        request = json.loads((folder_rid / "request.json").read_text())
        assert request["audio"] == str(ws.wav(rid).resolve())
        assert request["threads"] == 1, "the task must use its --cpus-per-task, not the node"
        result = json.loads(ws.transcript_json(rid).read_text())
        text = " ".join(s["text"] for s in result["segments"])
        assert wer(REFERENCE[rid], text) < 0.35, f"{rid}: {text}"
        # each segment goes to the voice that speaks most of it in the hand-cut turns
        for segment in result["segments"]:
            assert segment["speaker"] == most_overlap(TURNS[rid], segment), segment
        stamps.update({p: p.stat().st_mtime_ns for p in folder_rid.iterdir()})
    # part2's VAD segments each fall mostly in one turn: both voices come out
    assert {
        s["speaker"] for s in json.loads(ws.transcript_json("part2").read_text())["segments"]
    } == {
        "speaker90",
        "speaker91",
    }
    assert not ws.transcribe_index.exists(), "an --only task must not write the index"

    collected = subprocess.run(
        [*CDA, "transcribe", "--workspace", str(ws.root), "--collect"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    assert "collected 2 recording(s) from cached steps" in " ".join(collected.stdout.split())
    # `make transcribe` runs `cda run transcribe`: it must find every step cached too
    again = subprocess.run(
        [*CDA, "run", "transcribe", "--workspace", str(ws.root), "--jobs", "1"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "nothing to do, every recording is current" in " ".join(again.stdout.split())
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps, "a step ran again"
    index = pd.read_csv(ws.transcribe_index).set_index("recording_id")
    assert sorted(index.index) == ["part1", "part2"]
    assert set(index["steps"]) == {"asr+diarise+assign"}
    assert index.loc["part2", "speakers"] == 2
    seconds = json.loads((ws.transcribe_dir / "part1" / "steps.json").read_text())["asr"]
    assert index.loc["part1", "asr_seconds"] == pytest.approx(seconds["seconds"])

    # and the collected transcripts flow into segments like any other
    import_transcripts(ws, load_config(ws))
    segments = read_table(ws.imported_segments, SEGMENTS)
    assert set(segments["recording_id"]) == {"part1", "part2"}
    assert set(segments["source"]) == {"transcribe:whisperx"}
    speakers = segments.groupby("recording_id")["speaker"].nunique()
    assert speakers.to_dict() == index["speakers"].to_dict()
    # diarised from an RTTM, whose turns can overlap: overlap is measured, not unknown
    assert segments["overlap"].notna().all()
