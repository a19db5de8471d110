"""Suggestion quality, zero-shot and learned, on hand-labelled units of a real debate.

``make bench-suggest``; alone: ``python -m benchmarks.suggest``.

Data (1): the 217 ParlaMint units of ``benchmarks/data/parlamint_themes.tsv`` (one primary theme
each, 8 themes, labelled by hand; see :mod:`benchmarks.embeddings`) and an analyst's codebook
written from the labelling scheme before anything was scored
(``benchmarks/data/parlamint-codebook/round-1.yaml``), with two themes the debate never raises
(klimaat, defensie). (2): the bundled sample's two fictional workshops (148 turns) with their
hand coding (``pipeline/resources/sample/expected_codes.csv``, several codes per turn) and the
sample's starter codebook: workshop talk, as the issue's targets are stated for.

Reported per study and backend (tfidf, combined):

- zero-shot: macro F1 over the codes present in the labels (a code never suggested counts as
  precision 0), of the similarity suggestions and of all sources (keywords too), at the defaults;
- absent: suggestions for ParlaMint's two absent themes (must be 0);
- learned: macro F1 on the uncoded rest when 10 %, 25 % or 50 % of the units are coded (the
  coded share drawn at random, 5 seeds, mean and range), of the model and similarity
  suggestions (beside zero-shot's on the same uncoded segments) and of all sources; codes
  below ``min_examples``, or whose model does no better than zero-shot on the coded part, stay
  zero-shot as in the stage;
- time: training and predicting for 5,000 segments with a quarter coded (the units repeated;
  e5 vectors come from the cache after the first run, so this times the models, not e5).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.embeddings import labelled_units, segments_of
from pipeline.codebook import load
from pipeline.core.config import SuggestConfig
from pipeline.language.embeddings import e5_installed
from pipeline.language.parse import load_blank
from pipeline.suggest import evaluate, suggest_all
from pipeline.suggest.training import Labels

REPO = Path(__file__).resolve().parents[1]
CODEBOOK = REPO / "benchmarks" / "data" / "parlamint-codebook" / "round-1.yaml"
CACHE = REPO / "test-artifacts" / "embeddings"
ABSENT = ("klimaat", "defensie")
SHARES = (0.1, 0.25, 0.5)
SEEDS = 5


def macro_f1(table: pd.DataFrame, gold: pd.DataFrame, ids: list[str]) -> float:
    scores = evaluate(table, gold, segment_ids=ids).set_index("code")
    return float(scores.loc["macro", "f1"])


def full_labels(units: pd.DataFrame, codes: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(0.0, index=units["unit"].tolist(), columns=codes)
    for unit, theme in zip(units["unit"], units["theme"], strict=True):
        table.loc[unit, theme] = 1.0
    return table


def sample_study():
    """The bundled sample (two fictional workshops), imported and pseudonymised in a temporary
    workspace, with its hand coding (``expected_codes.csv``, several codes per turn)."""
    import tempfile

    from pipeline.cli.init import init_workspace
    from pipeline.core.config import load_config
    from pipeline.core.io import read_table
    from pipeline.core.paths import Workspace
    from pipeline.core.schemas import SEGMENTS
    from pipeline.importers import import_transcripts
    from pipeline.pseudonymise import pseudonymise
    from pipeline.suggest import expected_codes

    ws = Workspace.at(Path(tempfile.mkdtemp(prefix="bench-suggest-")) / "ws")
    init_workspace(ws, sample=True)
    config = load_config(ws)
    import_transcripts(ws, config)
    pseudonymise(ws, config)
    segments = read_table(ws.segments, SEGMENTS)
    loaded = load(ws.codebooks / config.study / "round-1.yaml")
    gold = expected_codes(REPO / "pipeline" / "resources" / "sample" / "expected_codes.csv")
    return segments, loaded, gold


def main() -> None:
    nlp, _ = load_blank("nl")
    backends = ["tfidf", "combined"] if e5_installed() else ["tfidf"]
    units = labelled_units()
    segments = segments_of(units)
    gold = pd.DataFrame({"segment_id": units["unit"], "code": units["theme"]})
    print(f"ParlaMint: {len(units)} units, 8 themes present, {len(ABSENT)} absent")
    study(segments, load(CODEBOOK), gold, nlp, backends)
    segments, loaded, gold = sample_study()
    print(f"sample: {len(segments)} turns, {gold['code'].nunique()} codes in the hand coding")
    study(segments, loaded, gold, nlp, backends)
    timing(units, nlp, load(CODEBOOK), backends)


def study(segments, loaded, gold: pd.DataFrame, nlp, backends: list[str]) -> None:
    """Zero-shot and learned macro F1 of one labelled study."""
    docs = list(nlp.pipe(segments["text"]))
    ids = segments["segment_id"].tolist()
    truth = pd.DataFrame(0.0, index=ids, columns=loaded.book.ids)
    for segment, code in zip(gold["segment_id"], gold["code"], strict=True):
        if segment in truth.index and code in truth.columns:
            truth.loc[segment, code] = 1.0
    for name in backends:
        config = SuggestConfig(similarity=name)
        made = suggest_all(segments, docs, loaded, nlp, config, cache=CACHE)
        table = made.table
        zero_machine = table[~table["source"].isin(["keyword", "pattern"])]
        similar = table[table["source"].str.startswith("similarity")]
        absent = int(table["code"].isin(ABSENT).sum())
        print(
            f"{name:9s} zero-shot macro F1: similarity {macro_f1(similar, gold, ids):.3f}, "
            f"all sources {macro_f1(table, gold, ids):.3f}; absent themes: {absent} suggestion(s)"
        )
        for share in SHARES:
            scores, everything, baseline, learned_codes = [], [], [], []
            for seed in range(SEEDS):
                rng = np.random.default_rng(seed)
                coded = sorted(rng.choice(ids, int(share * len(ids)), replace=False))
                labels = Labels(truth.loc[coded], frozenset(coded), {})
                made = suggest_all(segments, docs, loaded, nlp, config, cache=CACHE, labels=labels)
                rest = sorted(set(ids) - set(coded))
                machine = made.table[~made.table["source"].isin(["keyword", "pattern"])]
                scores.append(macro_f1(machine, gold, rest))
                everything.append(macro_f1(made.table, gold, rest))
                baseline.append(macro_f1(zero_machine, gold, rest))  # zero-shot, same rest
                learned_codes.append(len(made.learned.codes))
            print(
                f"{name:9s} learned, {share:.0%} coded: macro F1 {np.mean(scores):.3f} "
                f"({min(scores):.3f}-{max(scores):.3f}; zero-shot on the same segments "
                f"{np.mean(baseline):.3f}), all sources {np.mean(everything):.3f}; "
                "codes learned "
                f"{min(learned_codes)}-{max(learned_codes)} of {len(loaded.book.ids)}"
            )


def timing(units: pd.DataFrame, nlp, loaded, backends: list[str]) -> None:
    copies = int(np.ceil(5000 / len(units)))
    big = pd.concat(
        [units.assign(unit=units["unit"] + f".r{r}") for r in range(copies)], ignore_index=True
    ).iloc[:5000]
    segments = segments_of(big)
    docs = list(nlp.pipe(segments["text"]))
    ids = segments["segment_id"].tolist()
    truth = full_labels(big, loaded.book.ids)
    coded = sorted(np.random.default_rng(0).choice(ids, len(ids) // 4, replace=False))
    labels = Labels(truth.loc[coded], frozenset(coded), {})
    for name in backends:
        start = time.perf_counter()
        made = suggest_all(
            segments,
            docs,
            loaded,
            nlp,
            SuggestConfig(similarity=name),
            cache=CACHE,
            labels=labels,
        )
        took = time.perf_counter() - start
        print(
            f"{name:9s} 5,000 segments, 1,250 coded: train + predict {took:.1f} s "
            f"({len(made.learned.codes)} codes learned, {len(made.table)} suggestions)"
        )


if __name__ == "__main__":
    main()
