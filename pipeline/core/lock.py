"""Rerun a stage only when its inputs, code or settings really changed (``cda run``).

make decides by modification times, which is what makes ``make -q``/``make -n`` truthful, but
a time says nothing about content: after a marker edit ``nlp`` rewrites ``tokens.parquet``
with the same bytes, and ``topics`` would refit for nothing. So, as weasel's ``check_rerun``
does for spaCy projects, each stage run records the content hashes of its declared inputs,
of its code and of its settings in ``.cda/lock/<stage>[-round-N].json``, with the hashes of
the outputs it wrote. When make calls the stage again and every hash is the same, the stage
does no work: its outputs are only touched, so make sees them up to date.

Hashes of large inputs (recordings) are cached by size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.core import registry
from pipeline.core.config import StudyConfig, config_inputs, stage_snapshot
from pipeline.core.io import write_text
from pipeline.core.paths import Workspace

LOCK_VERSION = 1


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """What a stage run depends on: input, code and settings hashes, and its arguments."""

    inputs: dict[str, str]
    code: dict[str, str]
    settings: str
    args: list[str]

    def as_dict(self) -> dict:
        return {
            "inputs": self.inputs,
            "code": self.code,
            "settings": self.settings,
            "args": self.args,
        }


def lock_file(ws: Workspace, stage: registry.Stage, round_no: int | None) -> Path:
    suffix = f"-round-{round_no}" if stage.per_round and round_no is not None else ""
    return ws.state_dir / "lock" / f"{stage.name}{suffix}.json"


def _previous(path: Path) -> dict:
    """The last run's record; a missing or damaged one reads as none (the stage reruns).

    A lock file is derived bookkeeping: any part that is not what :func:`record` writes means
    "not known to be up to date", never an error.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
        return {}
    # a damaged hash cache only costs hashing again (see hash_cache); damaged outputs, a rerun
    return data if isinstance(data.get("outputs"), dict) else {}


def _hash(path: Path, cache: dict, key: str) -> str:
    stat = path.stat()
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    known = cache.get(key)
    if (
        isinstance(known, list)
        and len(known) == 2
        and known[0] == stamp
        and isinstance(known[1], str)
    ):
        return known[1]
    value = _sha(path)
    cache[key] = [stamp, value]
    return value


def input_paths(
    ws: Workspace, stage: registry.Stage, round_no: int | None, config: StudyConfig
) -> list[Path]:
    """The declared inputs that exist (globs expanded) and the files its settings name."""
    named = [ws.root / p for p in config_inputs(config, stage.name)]
    found = set(registry.existing_inputs(ws.root, stage, round_no))
    return sorted(found | {p for p in named if p.is_file()})


def output_paths(ws: Workspace, stage: registry.Stage, round_no: int | None) -> list[Path]:
    return [ws.root / p for p in stage.files("outputs", round_no)]


def fingerprint(
    ws: Workspace,
    config: StudyConfig,
    stage: registry.Stage,
    round_no: int | None,
    args: list[str],
    cache: dict,
) -> Fingerprint:
    inputs = {
        p.relative_to(ws.root).as_posix(): _hash(p, cache, p.relative_to(ws.root).as_posix())
        for p in input_paths(ws, stage, round_no, config)
    }
    root = registry.PACKAGE_ROOT
    code = {
        p.relative_to(root.parent).as_posix(): _sha(p) for p in registry.code_files(stage, root)
    }
    settings = hashlib.sha256(stage_snapshot(config, stage.name).encode()).hexdigest()
    return Fingerprint(inputs, code, settings, args)


def unchanged(
    ws: Workspace, stage: registry.Stage, round_no: int | None, current: Fingerprint
) -> bool:
    """True when the last run had the same fingerprint and its outputs are still as it left them."""
    previous = _previous(lock_file(ws, stage, round_no))
    if previous.get("fingerprint") != current.as_dict():
        return False
    outputs = previous.get("outputs", {})
    for path in output_paths(ws, stage, round_no):
        key = path.relative_to(ws.root).as_posix()
        if not path.is_file() or outputs.get(key) != _sha(path):
            return False
    return True


def touch_outputs(ws: Workspace, stage: registry.Stage, round_no: int | None) -> None:
    """Make the outputs newer than the inputs, so make sees the stage done.

    In declared order: the first output is make's target, the others must not be older.
    """
    for path in output_paths(ws, stage, round_no):
        if path.is_file():
            os.utime(path)


def record(
    ws: Workspace,
    stage: registry.Stage,
    round_no: int | None,
    current: Fingerprint,
    cache: dict,
) -> None:
    touch_outputs(ws, stage, round_no)
    outputs = {
        p.relative_to(ws.root).as_posix(): _sha(p)
        for p in output_paths(ws, stage, round_no)
        if p.is_file()
    }
    body = {
        "version": LOCK_VERSION,
        "stage": stage.name,
        "round": round_no,
        "fingerprint": current.as_dict(),
        "outputs": outputs,
        "hash_cache": cache,
    }
    write_text(lock_file(ws, stage, round_no), json.dumps(body, indent=1, sort_keys=True) + "\n")


def keep_cache(ws: Workspace, stage: registry.Stage, round_no: int | None, cache: dict) -> None:
    """After a skip: store the refreshed hash cache (inputs were touched upstream)."""
    path = lock_file(ws, stage, round_no)
    body = _previous(path)
    if body and body.get("hash_cache") != cache:
        body["hash_cache"] = cache
        write_text(path, json.dumps(body, indent=1, sort_keys=True) + "\n")


def hash_cache(ws: Workspace, stage: registry.Stage, round_no: int | None) -> dict:
    cache = _previous(lock_file(ws, stage, round_no)).get("hash_cache", {})
    return dict(cache) if isinstance(cache, dict) else {}
