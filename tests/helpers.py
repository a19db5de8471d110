"""Small builders shared by tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipeline.core.schemas import TOKENS

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PARLAMINT = SHARED / "parlamint-nl-toeslagen-2021-06-09" / "turns.tsv"


def word_tokens(segments: pd.DataFrame) -> pd.DataFrame:
    """A tokens table without spaCy: words and punctuation, lemma = lower-cased form.

    For tests of code that only reads the tokens contract (keyness, reports), so their
    expected numbers can be computed by hand from the text.
    """
    rows = []
    for seg in segments.itertuples():
        for i, match in enumerate(re.finditer(r"\w+|[^\w\s]", seg.text)):
            word = match.group()
            rows.append(
                {
                    "segment_id": seg.segment_id,
                    "token_index": i,
                    "sentence_index": 0,
                    "text": word,
                    "lemma": word.lower(),
                    "pos": None,
                    "is_stop": False,
                    "is_punct": not word.isalpha(),
                    "is_alpha": word.isalpha(),
                    "start_char": match.start(),
                }
            )
    return pd.DataFrame(rows, columns=TOKENS.names)


def sample_through_nlp(root: Path):
    """A workspace with the bundled sample imported, pseudonymised and parsed."""
    from pipeline.cli.init import init_workspace
    from pipeline.core.config import load_config
    from pipeline.core.paths import Workspace
    from pipeline.importers import import_transcripts
    from pipeline.nlp import run_nlp
    from pipeline.pseudonymise import pseudonymise

    ws = Workspace.at(root)
    init_workspace(ws, sample=True)
    config = load_config(ws)
    import_transcripts(ws, config)
    pseudonymise(ws, config)
    run_nlp(ws, config)
    return ws


def parlamint_jsonl(path: Path) -> Path:
    """The shared ParlaMint debate as a JSONL transcript (speaker label, speech) at ``path``.

    Skips the calling test when the shared data is not beside the checkout.
    """
    import csv
    import json

    import pytest

    if not PARLAMINT.is_file():
        pytest.skip(f"shared ParlaMint debate not found at {PARLAMINT}")
    with PARLAMINT.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["text"].strip()]
    lines = (json.dumps({"speaker": r["speaker_label"], "text": r["text"]}, ensure_ascii=False)
             for r in rows)  # fmt: skip
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


WHISPERX_PYTHON = Path(__file__).resolve().parents[1] / ".venvs" / "whisperx" / "bin" / "python"


def missing(reason: str, switch: str = "CDA_REQUIRE_WHISPERX") -> None:
    """Skip a test whose environment is absent, or fail it where CI requires it (``switch``
    set to 1: CDA_REQUIRE_WHISPERX, CDA_REQUIRE_SLURM)."""
    import os

    import pytest

    if os.environ.get(switch) == "1":
        pytest.fail(reason)
    pytest.skip(reason)
