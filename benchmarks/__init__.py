"""Benchmarks (``make bench-*``) and the tools they share with the tests (demo clips, WER).

They live in the checkout, not the installed package: they read the repository's sample and
the shared data beside it.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "pipeline" / "resources" / "sample"
