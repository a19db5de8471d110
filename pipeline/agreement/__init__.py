"""The ``agreement`` stage: how far blind coders agree, per code and overall.

Each code is judged as presence/absence per segment: a coder who coded a segment (even with
no code at all) gives it 1 or 0 for every code; a coder who skipped it, or never saw it, gives
no value. On that data:

- **Krippendorff's alpha** (nominal) from the coincidence matrix, which handles any number of
  coders and missing values (Krippendorff 2011, *Computing Krippendorff's Alpha-Reliability*);
  overall alpha pools every (segment, code) unit;
- **Cohen's kappa** for each pair of coders, on the segments both coded;
- **percent agreement** over pairable values, and the number of units behind each figure,
  because alpha on 12 segments says little.

A code nobody used, or everybody used everywhere, has no variation: its alpha and kappa are
undefined (empty), not 1.

A machine coder (``llm:<model>``, from ``cda code --llm``) is left out of alpha, percent
agreement and the disagreements, which are about the human coders. It appears in the pair
table only, against each human coder per code: the "is it good enough for this code?" figure.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.codings.machine import is_machine_coder
from pipeline.codings.presence import disagreements, presence
from pipeline.core.config import StudyConfig
from pipeline.core.io import read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import AGREEMENT, AGREEMENT_PAIRS, CODINGS, DISAGREEMENTS

ALL = "(all)"


def krippendorff_alpha(data: np.ndarray) -> float:
    """Nominal alpha for a coders × units array of category values (NaN = missing)."""
    values = np.asarray(data, dtype=float)
    categories = np.unique(values[~np.isnan(values)])
    index = {c: i for i, c in enumerate(categories)}
    coincidence = np.zeros((len(categories), len(categories)))
    for unit in values.T:
        present = unit[~np.isnan(unit)]
        m = len(present)
        if m < 2:
            continue
        counts = np.zeros(len(categories))
        for v in present:
            counts[index[v]] += 1
        pairs = np.outer(counts, counts) - np.diag(counts)  # ordered pairs of different coders
        coincidence += pairs / (m - 1)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        return float("nan")
    observed = coincidence.sum() - np.trace(coincidence)
    expected = (n_c.sum() ** 2 - (n_c**2).sum()) / (n - 1)
    if expected == 0:
        return float("nan")
    return float(1 - observed / expected)


def percent_agreement(data: np.ndarray) -> float:
    """Share of agreeing pairs among all pairs of values given to the same unit."""
    agree = total = 0
    for unit in np.asarray(data, dtype=float).T:
        present = unit[~np.isnan(unit)]
        for a, b in itertools.combinations(present, 2):
            total += 1
            agree += a == b
    return agree / total if total else float("nan")


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa for two coders' values on the same units (no missing values)."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return float("nan")
    observed = float(np.mean(a == b))
    categories = np.union1d(a, b)
    expected = float(sum(np.mean(a == c) * np.mean(b == c) for c in categories))
    if expected == 1:
        return float("nan")
    return (observed - expected) / (1 - expected)


def _pairable_units(data: np.ndarray) -> int:
    return int((np.sum(~np.isnan(data), axis=0) >= 2).sum())


def agreement_tables(
    codings: pd.DataFrame, codes: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-code and pooled alpha/percent agreement among the human coders, and Cohen's kappa
    per coder pair: human pairs, and each machine coder against each human coder."""
    p = presence(codings, codes, machines=True)
    humans = [i for i, c in enumerate(p.coders) if not is_machine_coder(c)]
    rows, pairs = [], []
    pooled = p.values.transpose(1, 0, 2).reshape(len(p.coders), len(p.codes) * len(p.segments))
    blocks = [(c, p.values[i]) for i, c in enumerate(p.codes)] + [(ALL, pooled)]
    compared = [
        ((i, a), (j, b))
        for (i, a), (j, b) in itertools.combinations(enumerate(p.coders), 2)
        if not (is_machine_coder(a) and is_machine_coder(b))
    ]
    for code, data in blocks:
        people = data[humans]
        rows.append(
            {
                "code": code,
                "alpha": krippendorff_alpha(people),
                "percent_agreement": percent_agreement(people),
                "units": _pairable_units(people),
                "coders": len(humans),
                "present": int(np.nansum(people)),
            }
        )
        for (i, a), (j, b) in compared:
            both = ~np.isnan(data[i]) & ~np.isnan(data[j])
            x, y = data[i][both], data[j][both]
            pairs.append(
                {
                    "code": code,
                    "coder_a": a,
                    "coder_b": b,
                    "kappa": cohen_kappa(x, y),
                    "percent_agreement": float(np.mean(x == y)) if len(x) else float("nan"),
                    "units": int(both.sum()),
                }
            )
    return (
        pd.DataFrame(rows, columns=AGREEMENT.names),
        pd.DataFrame(pairs, columns=AGREEMENT_PAIRS.names),
    )


@dataclass
class AgreementResult:
    codes: pd.DataFrame
    pairs: pd.DataFrame
    disagreements: pd.DataFrame


def run_agreement(ws: Workspace, config: StudyConfig, round_no: int) -> AgreementResult:
    """Compute and write the round's agreement tables (each rewritten only when it changed)."""
    from pipeline.codebook import load_round

    codings = read_table(ws.codings(round_no), CODINGS)
    book = load_round(ws, config, round_no).book
    codes, pairs = agreement_tables(codings, book.ids)
    disputed = disagreements(codings)
    write_table(codes, AGREEMENT, ws.agreement(round_no), only_if_changed=True)
    write_table(pairs, AGREEMENT_PAIRS, ws.agreement_pairs(round_no), only_if_changed=True)
    write_table(disputed, DISAGREEMENTS, ws.disagreements(round_no), only_if_changed=True)
    return AgreementResult(codes, pairs, disputed)
