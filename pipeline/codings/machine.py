"""Machine coders (``cda code --llm``): who they are, and the human codes without them.

A language model's codes are stored in ``codings.parquet`` as a coder of their own,
``llm:<model>``, so that agreement can measure it against each human coder like any coder.
Everywhere a finding is made (the coding basis, the report's themes, disagreements, training
data) its rows must not count: :func:`human_rows` is the one filter, :func:`is_machine_coder`
the one test, so no stage decides for itself what a machine coder looks like.
"""

from __future__ import annotations

import pandas as pd

from pipeline.core.config import MACHINE_PREFIX


def is_machine_coder(name: object) -> bool:
    """Whether a coder name is a machine coder's (``llm:<model>``), not a person's."""
    return isinstance(name, str) and name.startswith(MACHINE_PREFIX)


def machine_coder(model: str) -> str:
    """The coder name (and origin) of a model's codes: ``llm:<model>``."""
    return f"{MACHINE_PREFIX}{model}"


def human_rows(codings: pd.DataFrame) -> pd.DataFrame:
    """``codings.parquet`` rows of human coders (and the adjudication) only."""
    return codings[~codings["coder"].map(is_machine_coder).astype(bool)]


def machine_rows(codings: pd.DataFrame) -> pd.DataFrame:
    """``codings.parquet`` rows of machine coders only."""
    return codings[codings["coder"].map(is_machine_coder).astype(bool)]
