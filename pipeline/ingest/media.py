"""ffprobe/ffmpeg wrappers: inspect a recording and extract the 16 kHz mono WAV every model wants.

WhisperX, pyannote and the Label Studio audio player all read this one WAV, so a recording is
decoded once. Every failure names the media file and says what to do; the source file is only
ever read.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.errors import CdaError
from pipeline.core.io import atomic_path

SAMPLE_RATE = 16_000
SILENCE_DBFS = -50.0
"""A recording whose loudest sample stays below this level has no usable speech."""
TRUNCATION_TOLERANCE = 2.0
"""Seconds of decoded audio that may be missing against the container's duration."""


@dataclass(frozen=True)
class Probe:
    """What ffprobe reports about a media file."""

    duration: float | None
    audio_streams: int
    video_streams: int
    format_name: str


@dataclass(frozen=True)
class AudioInfo:
    """The extracted WAV and its level, kept to tell silent or truncated recordings apart."""

    duration: float
    peak_dbfs: float
    rms_dbfs: float


def require_ffmpeg() -> None:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        raise CdaError(
            f"{' and '.join(missing)} not found on PATH",
            hint="install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install "
            "ffmpeg; Windows: winget install ffmpeg)",
        )


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def probe(path: Path) -> Probe:
    """Inspect ``path``; a file ffprobe cannot read is reported as corrupt or unsupported."""
    require_ffmpeg()
    if not path.is_file():
        raise CdaError(f"{path}: file not found", hint="check the path")
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CdaError(
            f"{path}: not a readable media file ({_first_line(proc.stderr)})",
            hint="the file may be truncated or corrupt: copy it again from the recorder, or "
            "check that `ffprobe FILE` can read it",
        )
    info = json.loads(proc.stdout or "{}")
    streams = info.get("streams", [])
    fmt = info.get("format", {})
    try:
        duration = float(fmt["duration"])
    except (KeyError, TypeError, ValueError):
        duration = None
    return Probe(
        duration=duration,
        audio_streams=sum(s.get("codec_type") == "audio" for s in streams),
        video_streams=sum(s.get("codec_type") == "video" for s in streams),
        format_name=str(fmt.get("format_name", "?")),
    )


def _levels(wav_path: Path, chunk_seconds: int = 60) -> AudioInfo:
    """Duration, peak and RMS level of a 16-bit mono WAV, read in chunks (3-hour files fit)."""
    peak, square_sum, count = 0, 0.0, 0
    with wave.open(str(wav_path), "rb") as handle:
        frames = handle.getnframes()
        rate = handle.getframerate()
        while True:
            data = handle.readframes(rate * chunk_seconds)
            if not data:
                break
            samples = np.frombuffer(data, dtype="<i2").astype(np.float64)
            peak = max(peak, int(np.abs(samples).max(initial=0)))
            square_sum += float(np.square(samples).sum())
            count += samples.size

    def dbfs(value: float) -> float:
        return 20 * math.log10(value / 32768) if value > 0 else -math.inf

    rms = math.sqrt(square_sum / count) if count else 0.0
    return AudioInfo(duration=frames / rate, peak_dbfs=dbfs(peak), rms_dbfs=dbfs(rms))


def _declared_wav_seconds(path: Path) -> float | None:
    """Duration a WAV header promises; ffprobe estimates from the file size instead."""
    with open(path, "rb") as handle:
        if handle.read(4) != b"RIFF":
            return None
    try:
        with wave.open(str(path), "rb") as handle:
            return handle.getnframes() / handle.getframerate()
    except (wave.Error, EOFError, ZeroDivisionError):
        return None  # not PCM (e.g. a compressed WAV): rely on ffprobe


def extract_audio(source: Path, target: Path) -> AudioInfo:
    """Decode the first audio stream of ``source`` into a 16 kHz mono 16-bit WAV at ``target``.

    Refuses files without audio, files ffmpeg cannot decode, files that decode to much less
    audio than the container promises (truncated copies), and silent recordings. ``target``
    is replaced atomically, so a failed extraction leaves no half-written WAV behind.
    """
    found = probe(source)
    if found.audio_streams == 0:
        kind = "a video without sound" if found.video_streams else "no audio"
        raise CdaError(
            f"{source}: no audio stream ({kind}, format {found.format_name})",
            hint="export the recording with its sound track, or use the camera's audio file",
        )
    with atomic_path(target) as tmp:
        proc = subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-hide_banner",
                "-v",
                "error",
                "-y",
                "-i",
                str(source),
                "-map",
                "0:a:0",
                "-vn",
                "-ac",
                "1",
                "-ar",
                str(SAMPLE_RATE),
                "-c:a",
                "pcm_s16le",
                "-f",
                "wav",
                str(tmp),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size <= 44:
            raise CdaError(
                f"{source}: ffmpeg could not decode the audio ({_first_line(proc.stderr)})",
                hint="the file may be truncated or corrupt: copy it again from the recorder",
            )
        info = _levels(tmp)
        expected = max(
            (d for d in (found.duration, _declared_wav_seconds(source)) if d is not None),
            default=None,
        )
        if expected is not None and info.duration < expected - TRUNCATION_TOLERANCE:
            raise CdaError(
                f"{source}: only {info.duration:.1f}s of audio could be decoded, but the file "
                f"says it lasts {expected:.1f}s (truncated or damaged)",
                hint="copy the file again from the recorder and check its size",
            )
        if info.peak_dbfs < SILENCE_DBFS:
            raise CdaError(
                f"{source}: the audio is silent (peak {info.peak_dbfs:.0f} dBFS)",
                hint="check the microphone track: a camera may record sound on another stream "
                "or file",
            )
    return info
