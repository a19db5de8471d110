"""One recording's planned work and its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Job:
    """One recording's pending work: the steps to run and the cache keys they will carry."""

    recording_id: str
    wav: Path
    duration: float
    steps: tuple[str, ...]
    keys: dict[str, str]
    request: dict = field(repr=False)


@dataclass
class Outcome:
    recording_id: str
    duration: float
    timings: dict[str, float]
    keys: dict[str, str] = field(default_factory=dict)
    device: str = "?"
    compute_type: str = "?"

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())
