"""Progress bars for long work, shown only on an interactive terminal (never in logs or CI)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

T = TypeVar("T")
log = logging.getLogger("pipeline")


def track(items: Iterable[T], *, description: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items`` while showing a progress bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        yield from items
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        yield from progress.track(items, total=total, description=description)


class StepProgress:
    """Per-recording, per-step progress for long jobs (one bar per recording on a terminal).

    Off a terminal, each finished step is logged instead, so a cluster log still shows how far
    a 3-hour recording got. Call it with the worker's events: ``(recording_id, event)``.
    """

    def __init__(self, durations: dict[str, float]) -> None:
        self.durations = durations
        self.progress: Progress | None = None
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> StepProgress:
        if sys.stderr.isatty():
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
            )
            self.progress.start()
            for rid in self.durations:
                self.tasks[rid] = self.progress.add_task(f"{rid}: waiting", total=100)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, recording_id: str, event: dict) -> None:
        kind = event.get("event")
        if self.progress is not None and recording_id in self.tasks:
            task = self.tasks[recording_id]
            if kind == "step":
                self.progress.update(
                    task, description=f"{recording_id}: {event['step']}", completed=0
                )
            elif kind == "progress":
                self.progress.update(task, completed=event["pct"])
            elif kind == "done":
                self.progress.update(task, completed=100)
        elif kind == "done":
            audio = self.durations.get(recording_id) or 0
            rtf = f", RTF {event['seconds'] / audio:.2f}" if audio else ""
            log.info("%s: %s done in %.1fs%s", recording_id, event["step"], event["seconds"], rtf)
