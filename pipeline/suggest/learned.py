"""Learned suggestions: one calibrated classifier per code, trained on what coders decided.

Why this and not more similarity: the codebook's words describe a theme the way the analyst
thinks of it; coded segments show how participants actually talk about it. Once a round (or
the previous one, through ``replaces``) has human codes (:mod:`pipeline.suggest.training`),
each code with at least ``suggest.min_examples`` positive and negative segments gets:

- features: the suggestion embedding of every segment (TF-IDF over lemmas, e5, or both
  combined, as ``suggest.similarity`` says) plus the code's keyword and pattern evidence
  (one column each: the keyword score 1 − 0.5^n);
- a class-balanced logistic regression (a theme is usually rare, and an unbalanced model
  would learn to say "no"), its probabilities calibrated by cross-validation (Platt
  scaling, ``CalibratedClassifierCV``), so a score of 0.7 means about 7 in 10 are right;
- honest figures: precision, recall and F1 at the decision threshold from out-of-fold
  predictions on the coded segments (each scored by a model that never saw it).

A suggestion is a code whose calibrated probability reaches the code's threshold on a segment
coders have not judged this round. ``suggest.threshold: auto`` picks each code's threshold for
the best F1 on the out-of-fold probabilities (a rare theme's best cut is well below 0.5); its
figures judge each fold at a threshold chosen on the other folds, so they include that choice.
A number (e.g. 0.5, "more likely than not") fixes it for every code. Its evidence names the
most similar coded segments that have the code, by id. Codes with too few examples fall back to
zero-shot similarity, and the run says so per code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from pipeline.suggest.training import Labels

log = logging.getLogger(__name__)

FOLDS = 5  # at most; fewer when a code has fewer examples of a class
NEAREST = 2  # coded segments named as evidence
REGULARISATION = 1.0  # logistic regression C (inverse L2 strength)
GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)  # thresholds a code's model may get


@dataclass(frozen=True)
class CodeFit:
    """One code's learned model (or why it has none) and its cross-validated figures."""

    code: str
    mode: str  # learned | zero-shot
    positives: int
    negatives: int
    reason: str = ""
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    folds: int = 0
    threshold: float | None = None  # the probability from which the code is suggested
    zero_shot_f1: float | None = None  # zero-shot similarity's F1 on the same coded segments

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Learned:
    """Probabilities of the learned codes for the segments to suggest for."""

    fits: list[CodeFit]
    probabilities: pd.DataFrame  # segment × learned code
    evidence: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.fits if f.mode == "learned"]


def _classifier(folds: int, seed: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    base = LogisticRegression(
        C=REGULARISATION, class_weight="balanced", max_iter=2000, solver="liblinear"
    )
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(base, method="sigmoid", cv=split)


def _counts(y: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int]:
    """(true positives, predicted positives, actual positives)."""
    return int((predicted & (y == 1)).sum()), int(predicted.sum()), int((y == 1).sum())


def _f1(tp: int, predicted: int, actual: int) -> float:
    return 2 * tp / (predicted + actual) if predicted + actual else 0.0


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The grid threshold (0.05 … 0.95) with the best F1 on ``p``; ties go to the higher one
    (fewer suggestions for the same F1)."""
    best, best_f1 = 0.5, -1.0
    for t in GRID:
        f1 = _f1(*_counts(y, p >= t))
        if f1 >= best_f1:
            best, best_f1 = float(t), f1
    return best


def honest_figures(
    y: np.ndarray, oof: np.ndarray, fold_of: np.ndarray, threshold: float | None
) -> tuple[float, float, float]:
    """Precision, recall and F1 of out-of-fold probabilities. With a per-code threshold
    (``threshold`` None), each fold is judged at the threshold chosen on the *other* folds,
    so choosing the threshold is part of what is validated, not a free optimistic step."""
    predicted = np.zeros(len(y), dtype=bool)
    for k in np.unique(fold_of):
        here = fold_of == k
        t = threshold if threshold is not None else best_threshold(y[~here], oof[~here])
        predicted[here] = oof[here] >= t
    tp, pred, actual = _counts(y, predicted)
    precision = tp / pred if pred else 0.0
    recall = tp / actual if actual else 0.0
    return round(precision, 4), round(recall, 4), round(_f1(tp, pred, actual), 4)


def fit_codes(
    features,
    segment_ids: list[str],
    labels: Labels,
    *,
    min_examples: int,
    threshold: float | None,
    seed: int = 0,
) -> Learned:
    """Train, cross-validate and apply one model per code (see the module docstring).

    ``features`` has one row per segment of ``segment_ids`` (dense or sparse); the model
    scores the segments that were not judged this round.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    row = {s: i for i, s in enumerate(segment_ids)}
    features = sparse.csr_matrix(features)
    targets = [s for s in segment_ids if s not in labels.judged]
    target_rows = [row[s] for s in targets]
    fits: list[CodeFit] = []
    probabilities: dict[str, np.ndarray] = {}
    evidence: dict[tuple[str, str], str] = {}
    unit = _unit_rows(features)
    for code in labels.table.columns:
        known = labels.table[code].dropna()
        known = known[known.index.isin(row)]
        y = known.to_numpy(dtype=int)
        pos, neg = int((y == 1).sum()), int((y == 0).sum())
        if min(pos, neg) < min_examples:
            lacking = "positive" if pos < min_examples else "negative"
            reason = (
                f"{min(pos, neg)} {lacking} example(s), needs suggest.min_examples: {min_examples}"
            )
            fits.append(CodeFit(code, "zero-shot", pos, neg, reason))
            continue
        x = features[[row[s] for s in known.index]]
        folds = min(FOLDS, pos, neg)
        outer = StratifiedKFold(folds, shuffle=True, random_state=seed)
        # the calibration folds inside each outer training part (which lacks a fold's share)
        inner = max(2, min(FOLDS, pos - -(-pos // folds), neg - -(-neg // folds)))
        oof = cross_val_predict(_classifier(inner, seed), x, y, cv=outer, method="predict_proba")[
            :, 1
        ]
        fold_of = np.zeros(len(y), dtype=int)
        for k, (_, held) in enumerate(outer.split(x, y)):
            fold_of[held] = k
        precision, recall, f1 = honest_figures(y, oof, fold_of, threshold)
        cut = threshold if threshold is not None else best_threshold(y, oof)
        model = _classifier(min(FOLDS, pos, neg), seed).fit(x, y)
        fits.append(
            CodeFit(code, "learned", pos, neg, "", precision, recall, f1, folds, round(cut, 2))
        )
        if not target_rows:
            probabilities[code] = np.zeros(0)
            continue
        p = model.predict_proba(features[target_rows])[:, 1]
        probabilities[code] = p
        positives = [row[s] for s in known.index[y == 1]]
        near = (unit[target_rows] @ unit[positives].T).toarray()
        for k, target in enumerate(targets):
            if p[k] >= cut:
                best = np.argsort(-near[k], kind="stable")[:NEAREST]
                ids = ", ".join(known.index[y == 1][b] for b in best)
                evidence[(target, code)] = f"nearest coded: {ids}"
    table = pd.DataFrame(probabilities, index=targets)
    return Learned(fits, table, evidence)


def prefer_better(learned: Learned, labels: Labels, zero_shot: pd.DataFrame) -> Learned:
    """Keep a code's model only where it beats zero-shot similarity on the coded segments.

    ``zero_shot``: the similarity suggestions (segment_id, code) the stage makes without any
    model. Its F1 on a code's coded segments is compared with the model's cross-validated F1;
    where zero-shot does as well, the code stays zero-shot (a model trained on a handful of
    segments can be worse than the codebook's own words), and both figures are recorded."""
    from dataclasses import replace

    fits = []
    keep = []
    for fit in learned.fits:
        if fit.mode != "learned":
            fits.append(fit)
            continue
        known = labels.table[fit.code].dropna()
        suggested = set(zero_shot.loc[zero_shot["code"] == fit.code, "segment_id"])
        y = known.to_numpy(dtype=int)
        hit = np.array([s in suggested for s in known.index], dtype=bool)
        f1 = round(_f1(*_counts(y, hit)), 4)
        if f1 >= (fit.f1 or 0.0):
            reason = (
                f"zero-shot did as well on the coded segments (F1 {f1:.2f}, model {fit.f1:.2f})"
            )
            fits.append(replace(fit, mode="zero-shot", reason=reason, zero_shot_f1=f1))
        else:
            fits.append(replace(fit, zero_shot_f1=f1))
            keep.append(fit.code)
    probabilities = learned.probabilities[[c for c in learned.probabilities.columns if c in keep]]
    evidence = {k: v for k, v in learned.evidence.items() if k[1] in keep}
    return Learned(fits, probabilities, evidence)


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1 / norms) @ matrix)


def rows(learned: Learned, *, source: str) -> list[dict]:
    """Suggestion rows: each learned code at or above its threshold on a segment."""
    cuts = {f.code: f.threshold for f in learned.fits if f.mode == "learned"}
    out = []
    for code in learned.probabilities.columns:
        for segment, p in learned.probabilities[code].items():
            if p >= cuts[code]:
                out.append(
                    {
                        "segment_id": segment,
                        "code": code,
                        "score": round(float(p), 4),
                        "source": source,
                        "evidence": learned.evidence[(segment, code)],
                    }
                )
    return out


def uncertainty(learned: Learned, *, source: str) -> pd.DataFrame:
    """Per scored segment, the learned code whose probability is nearest 0.5, and
    ``1 − |2p − 1|`` (1: the model cannot tell; 0: it is sure), so coders can take the
    segments a decision would teach the model most first (``cda ls push --order
    uncertainty``)."""
    probs = learned.probabilities
    if probs.empty or not len(probs.columns):
        return pd.DataFrame(columns=["segment_id", "uncertainty", "code", "probability", "source"])
    values = probs.to_numpy()
    score = 1 - np.abs(2 * values - 1)
    best = np.argmax(score, axis=1)
    return pd.DataFrame(
        {
            "segment_id": probs.index,
            "uncertainty": score[np.arange(len(best)), best].round(4),
            "code": [probs.columns[b] for b in best],
            "probability": values[np.arange(len(best)), best].round(4),
            "source": source,
        }
    )
