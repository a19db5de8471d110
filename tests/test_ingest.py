"""Ingest: real media made with ffmpeg, registered and extracted; bad media refused cleanly."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import sha256_file
from pipeline.core.manifest import read_audio_index, read_manifest
from pipeline.core.paths import Workspace
from pipeline.ingest import expand_media, extract_all, register_media

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


TONE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3"]
COLOUR = ["-f", "lavfi", "-i", "color=c=blue:s=160x120:r=5:d=3"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One valid file per container, and one file per way media goes wrong."""
    d = tmp_path_factory.mktemp("media")
    files = {
        name: d / name
        for name in (
            "talk.mp4",
            "talk.mp3",
            "talk.mkv",
            "mute.mp4",
            "silent.wav",
            "cut.mp4",
            "cut.wav",
            "noise.mp4",
        )
    }
    ffmpeg(*COLOUR, *TONE, "-c:v", "libx264", "-c:a", "aac", "-shortest", str(files["talk.mp4"]))
    ffmpeg(*TONE, str(files["talk.mp3"]))
    ffmpeg(
        *COLOUR, *TONE, "-c:v", "libx264", "-c:a", "libopus", "-shortest", str(files["talk.mkv"])
    )
    ffmpeg(*COLOUR, "-c:v", "libx264", str(files["mute.mp4"]))
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", str(files["silent.wav"]))
    whole = files["talk.mp4"].read_bytes()
    files["cut.mp4"].write_bytes(whole[: len(whole) // 2])
    long_wav = d / "long.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=16000:duration=10", str(long_wav))
    data = long_wav.read_bytes()
    files["cut.wav"].write_bytes(data[: len(data) // 3])  # header still promises 10 s
    files["noise.mp4"].write_bytes(bytes(range(256)) * 64)
    return files


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="proef", groups=["burgers", "deskundigen"])
    return ws


@pytest.mark.parametrize("name", ["talk.mp4", "talk.mp3", "talk.mkv"])
def test_register_extracts_16k_mono_wav_and_records_hash_and_duration(
    ws: Workspace, media: dict[str, Path], name: str
) -> None:
    source = media[name]
    before = sha256_file(source)
    rec = register_media(ws, load_config(ws), source, group="burgers", max_speakers=12)

    assert rec.recording_id == "talk" and rec.group == "burgers"
    assert rec.duration == pytest.approx(3.0, abs=0.1)
    with wave.open(str(ws.wav("talk"))) as handle:
        assert (handle.getframerate(), handle.getnchannels(), handle.getsampwidth()) == (
            16000,
            1,
            2,
        )
    row = read_manifest(ws).iloc[0]
    assert row["media"] == f"raw/{name}"
    assert row["media_sha256"] == before
    assert row["duration"] == pytest.approx(3.0, abs=0.1)
    assert row["max_speakers"] == 12
    assert sha256_file(source) == before, "the source file must never change"
    assert sha256_file(ws.raw / name) == before, "data/raw holds an exact copy"
    index = read_audio_index(ws)["talk"]
    assert index["wav_sha256"] == sha256_file(ws.wav("talk"))
    assert -30 < index["peak_dbfs"] <= 0  # ffmpeg's sine is at -18 dBFS


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("mute.mp4", "no audio stream (a video without sound"),
        ("silent.wav", "the audio is silent"),
        ("cut.mp4", "not a readable media file"),
        ("cut.wav", "truncated"),
        ("noise.mp4", "not a readable media file"),
    ],
)
def test_bad_media_is_refused_naming_the_file_and_nothing_is_registered(
    ws: Workspace, media: dict[str, Path], name: str, problem: str
) -> None:
    before = sha256_file(media[name])
    with pytest.raises(CdaError) as info:
        register_media(ws, load_config(ws), media[name], group="burgers")
    assert str(media[name]) in info.value.message
    assert problem in info.value.message
    assert info.value.hint
    assert not ws.manifest.exists()
    assert not any(ws.raw.iterdir()), "a refused file is not copied into data/raw"
    assert not ws.audio_dir.exists() or not any(ws.audio_dir.glob("*.wav"))
    assert sha256_file(media[name]) == before


def test_unknown_group_and_bad_speaker_bounds_are_refused(
    ws: Workspace, media: dict[str, Path]
) -> None:
    config = load_config(ws)
    with pytest.raises(CdaError) as info:
        register_media(ws, config, media["talk.mp4"], group="burgerz")
    assert "talk.mp4" in info.value.message and "burgerz" in info.value.message
    with pytest.raises(CdaError) as info:
        register_media(
            ws, config, media["talk.mp4"], group="burgers", min_speakers=5, max_speakers=2
        )
    assert "--min-speakers 5" in info.value.message
    assert not ws.manifest.exists()


def test_folder_expands_to_its_media_in_name_order(tmp_path: Path, media: dict[str, Path]) -> None:
    folder = tmp_path / "opnames"
    folder.mkdir()
    for name in ("b.mp3", "a.mp4"):
        shutil.copy(media["talk.mp4" if name.endswith("mp4") else "talk.mp3"], folder / name)
    (folder / "notities.txt").write_text("geen media", encoding="utf-8")
    assert [p.name for p in expand_media([folder])] == ["a.mp4", "b.mp3"]
    (folder / "a.mp4").unlink()
    (folder / "b.mp3").unlink()
    with pytest.raises(CdaError, match="no media files"):
        expand_media([folder])


def test_extract_all_reuses_current_audio_and_refuses_changed_media(
    ws: Workspace, media: dict[str, Path]
) -> None:
    config = load_config(ws)
    register_media(ws, config, media["talk.mp3"], recording_id="sessie1", group="burgers")
    wav = ws.wav("sessie1")
    stamp = wav.stat().st_mtime_ns

    done = extract_all(ws, config)
    assert [(r.recording_id, r.extracted) for r in done] == [("sessie1", False)]
    assert wav.stat().st_mtime_ns == stamp

    wav.unlink()
    assert extract_all(ws, config)[0].extracted and wav.is_file()

    (ws.raw / "talk.mp3").write_bytes(media["talk.mp4"].read_bytes())
    with pytest.raises(CdaError) as info:
        extract_all(ws, config)
    assert "raw/talk.mp3 changed since it was registered" in info.value.message


def test_cli_reports_bad_media_without_traceback(ws: Workspace, media: dict[str, Path]) -> None:
    cda = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "cda"
    proc = subprocess.run(
        [str(cda), "ingest", "-w", str(ws.root), str(media["mute.mp4"]), "--group", "burgers"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "mute.mp4" in proc.stderr
    assert "Traceback" not in proc.stderr
