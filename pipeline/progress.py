"""Progress bars for long work, shown only on an interactive terminal (never in logs or CI)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

T = TypeVar("T")


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
