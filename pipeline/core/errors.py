"""User-facing errors.

A :class:`CdaError` is something the researcher can fix (a bad file, a missing stage output,
an invalid config). Its message names the file, the row or field, and what to do; the CLI
prints it on one line and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations


class CdaError(Exception):
    """An error caused by input or state the user controls, with a hint on how to fix it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
