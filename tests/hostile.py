"""What every hostile-input test (tests/test_hostile*.py, issue 17) asserts about a refusal.

The real `cda` runs in a subprocess, optionally under an address-space cap (a bomb then fails
fast instead of swapping): exit 2, no traceback, the message naming what it must, and the
files under a folder compared byte for byte before and after.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

CDA = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "cda"
GIB = 1 << 30


def cda(*args: str, memory: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [str(CDA), *args], capture_output=True, text=True, timeout=300, preexec_fn=limit
    )


def refused(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    # rich wraps long lines: compare with the line breaks taken out
    said = " ".join(proc.stderr.split())
    for needle in needles:
        assert " ".join(needle.split()) in said, proc.stderr


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
