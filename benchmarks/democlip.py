"""A short two-voice Dutch "workshop" video, synthesised with espeak-ng and muxed by ffmpeg.

Used by ``make demo-video`` and the transcription tests: it needs no recording of real people
(no consent issues, nothing to download) and its script and speaker turns are known exactly,
so a test can check what the ASR recovered. Also writes the true turns as RTTM, which the demo
uses as its diarisation (pyannote's weights need a Hugging Face token).

Run: ``python -m benchmarks.democlip OUTDIR`` → ``OUTDIR/workshop.mp4``, ``workshop.rttm``,
``workshop.txt`` (the script).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from pathlib import Path

from pipeline.core.errors import CdaError

VOICES = {"Gespreksleider": ("nl", "45"), "Marloes": ("nl+f3", "60")}
SCRIPT = (
    ("Gespreksleider", "Welkom bij deze workshop over digitalisering en de samenleving."),
    ("Marloes", "Ik maak me zorgen over camera's in de wijk en over mijn privacy."),
    ("Gespreksleider", "Wat bedoelt u precies met zorgen over de overheid?"),
    ("Marloes", "In China bepaalt een puntensysteem wie mag reizen. Dat wil ik hier niet."),
    ("Gespreksleider", "Dank u wel. Wie wil daar nog iets over zeggen?"),
)
PAUSE = 1.2
"""Seconds of silence between turns, long enough for voice activity detection to split."""


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CdaError(f"{cmd[0]} failed: {proc.stderr.strip()[-300:]}", hint="see the message")


def _ffmpeg(*args: str) -> None:
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args])


def _silence(path: Path, seconds: float) -> None:
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-t",
        str(seconds),
        str(path),
    )


def make_clip(
    folder: Path,
    *,
    script: tuple[tuple[str, str], ...] = SCRIPT,
    voices: dict[str, tuple[str, str]] = VOICES,
    pause: float = PAUSE,
) -> Path:
    """Write ``workshop.mp4`` (+ ``.rttm`` and ``.txt``) into ``folder``; return the video path.

    ``voices`` maps each speaker of ``script`` to an espeak-ng voice and pitch (the
    diarisation benchmark uses eight)."""
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            raise CdaError(
                f"{tool} not found", hint="apt-get install espeak-ng ffmpeg (see README)"
            )
    folder.mkdir(parents=True, exist_ok=True)
    parts, rttm, clock = [], [], 0.5
    for index, (speaker, text) in enumerate(script):
        voice, pitch = voices[speaker]
        raw = folder / f".turn{index}.wav"
        _run(["espeak-ng", "-v", voice, "-p", pitch, "-s", "125", "-w", str(raw), text])
        pcm = folder / f".turn{index}.16k.wav"
        _ffmpeg(
            "-i",
            str(raw),
            "-ar",
            "16000",
            "-ac",
            "1",
            str(pcm),
        )
        with wave.open(str(pcm)) as handle:
            seconds = handle.getnframes() / handle.getframerate()
        rttm.append(f"SPEAKER workshop 1 {clock:.3f} {seconds:.3f} <NA> <NA> {speaker} <NA> <NA>")
        parts.append((pcm, seconds))
        clock += seconds + pause
        raw.unlink()
    concat = folder / ".concat.txt"
    lines = ["file 'silence.wav'"]
    _silence(folder / "silence.wav", 0.5)
    _silence(folder / "pause.wav", pause)
    for pcm, _ in parts:
        lines += [f"file '{pcm.name}'", "file 'pause.wav'"]
    concat.write_text("\n".join(lines) + "\n", encoding="utf-8")
    audio = folder / ".audio.wav"
    _ffmpeg(
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(concat),
        "-c:a",
        "pcm_s16le",
        str(audio),
    )
    video = folder / "workshop.mp4"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=0x1f3a5f:s=320x180:r=5",
        "-i",
        str(audio),
        "-t",
        f"{clock:.2f}",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-shortest",
        str(video),
    )
    (folder / "workshop.rttm").write_text("\n".join(rttm) + "\n", encoding="utf-8")
    (folder / "workshop.txt").write_text(
        "".join(f"{speaker}: {text}\n" for speaker, text in script), encoding="utf-8"
    )
    for path in [concat, audio, folder / "silence.wav", folder / "pause.wav"]:
        path.unlink()
    for pcm, _ in parts:
        pcm.unlink()
    return video


if __name__ == "__main__":
    print(make_clip(Path(sys.argv[1] if len(sys.argv) > 1 else "build/clip")))
