"""Topic and suggestion quality per embedding backend, on hand-labelled units of a real debate.

Part of ``make bench-topics``; alone: ``python -m benchmarks.embeddings``.

Units: the ParlaMint-NL debate of 2021-06-09 (``../shared/data/parlamint-nl-toeslagen-...``),
each turn cut into windows of 3 sentences (the project's sentencizer, as ``topics.unit:
window``), each motion read out a unit of its own: 217 units. Their themes were labelled by hand
(``benchmarks/data/parlamint_themes.tsv``, where the scheme is defined). Only units with at least
``min_tokens`` (4) content lemmas are scored, as the topics stage models only those.

Per backend (tfidf, e5-small, combined), topics with the stage's defaults (PCA + k-means below
500 units, KeyBERT-style keywords):

- NPMI: mean coherence of the topics' words over the units (:func:`pipeline.topics.outputs.npmi`),
  of the stage's keywords (KeyBERT-style, reranked in the backend's space) and of plain c-TF-IDF
  keywords of the same clusters (``npmi_ctfidf``: the clusters' own lexical coherence);
- stability: ARI between the topics of seeds 42 and 7;
- agreement: ARI and NMI between the topics and the hand-labelled themes;
- suggest-like use: macro F1 of a logistic regression predicting the theme from the embedding,
  5-fold stratified cross-validation (seeded); embeddings are unsupervised (fit on all units).

e5 vectors are cached in ``test-artifacts/embeddings`` (``CDA_EMBEDDING_CACHE`` overrides), so
a second run costs only the topic fits.
"""

from __future__ import annotations

import csv
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.config import StudyConfig, TopicsConfig
from pipeline.core.schemas import SEGMENTS
from pipeline.language.parse import load_pipeline
from pipeline.nlp import analyse
from pipeline.topics.model import documents, embed_units, fit_topics, unit_texts
from pipeline.topics.outputs import npmi, quality

REPO = Path(__file__).resolve().parents[1]
DEBATE = REPO.parent / "shared" / "data" / "parlamint-nl-toeslagen-2021-06-09" / "turns.tsv"
LABELS = REPO / "benchmarks" / "data" / "parlamint_themes.tsv"
WINDOW = 3
BACKENDS = ("tfidf", "e5-small", "combined")


def debate_units(path: Path = DEBATE) -> pd.DataFrame:
    """Windows of 3 sentences per turn, one unit per motion: ids ``u<N>.w<k>``, ``u<N>.m<k>``."""
    nlp, _ = load_pipeline("none-blank", "nl")
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    units = []
    for row in rows:
        turn = row["u_id"].rsplit(".", 1)[1]
        text = re.sub(r"\s+", " ", row["text"]).strip()
        sentences = [s.text for s in nlp(text).sents]
        for i in range(0, len(sentences), WINDOW):
            units.append((f"{turn}.w{i // WINDOW + 1}", " ".join(sentences[i : i + WINDOW])))
        motions = re.sub(r"\s+", " ", row["motion_text"]).strip()
        parts = [p for p in re.split(r"(?=Motie \| De Kamer)", motions) if p.strip()]
        units += [(f"{turn}.m{j + 1}", part.strip()) for j, part in enumerate(parts)]
    return pd.DataFrame(units, columns=["unit", "text"])


def read_labels(path: Path = LABELS) -> pd.DataFrame:
    lines = [
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")
    ]
    frame = pd.DataFrame([line.split("\t") for line in lines[1:]], columns=lines[0].split("\t"))
    return frame


def labelled_units() -> pd.DataFrame:
    """Units with their theme; refuses labels that no longer match the text they were given for."""
    units = debate_units().merge(read_labels(), on="unit", how="outer", indicator=True)
    lost = units[units["_merge"] != "both"]
    if len(lost):
        raise SystemExit(f"labels and units differ: {lost['unit'].tolist()[:5]}")
    moved = units[
        [not t.startswith(s) for t, s in zip(units["text"], units["starts"], strict=True)]
    ]
    if len(moved):
        raise SystemExit(f"unit text changed since labelling: {moved['unit'].tolist()[:5]}")
    return units.drop(columns="_merge")


def segments_of(units: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "recording_id": "debat",
            "group": "kamer",
            "segment_id": units["unit"],
            "start": np.arange(len(units), dtype=float),
            "end": np.arange(len(units), dtype=float) + 1,
            "overlap": 0.0,
            "speaker": "S",
            "role": "participant",
            "text": units["text"],
            "source": "parlamint",
        }
    )
    return frame[SEGMENTS.names]


def macro_f1(vectors: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Standardised features: raw e5 dimensions vary ~10x less than TF-IDF + SVD ones, and an
    # unscaled L2-regularised model would mostly measure that (e5 F1 0.24 unscaled).
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    predicted = cross_val_predict(classifier, vectors, labels, cv=folds)
    return float(f1_score(labels, predicted, average="macro"))


def evaluate(name: str, segments, tokens, themes: pd.Series, cache: Path) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    cfg = TopicsConfig(embedding=name)
    docs = documents(segments, tokens, cfg)
    usable = docs[docs.str.split().str.len() >= cfg.min_tokens]
    texts = unit_texts(segments, tokens, cfg)
    cpu = time.process_time()
    embedded = embed_units(usable, cfg, texts=texts, cache_dir=cache)
    embed_cpu = time.process_time() - cpu
    model = fit_topics(usable, cfg, segments=segments, texts=texts, cache_dir=cache)
    scores = quality(model, StudyConfig(study="bench", groups=["kamer"], topics=cfg))
    topics = model.doc_topics.set_index("segment_id")["topic"].reindex(
        usable.index.get_level_values(0)
    )
    gold = themes.reindex(usable.index.get_level_values(0)).to_numpy()
    plain = TopicsConfig(embedding=name, representation="ctfidf")
    words = fit_topics(usable, plain, segments=segments, texts=texts, cache_dir=cache)
    unit_words = [set(doc.split()) for doc in usable]
    plain_npmi = [
        npmi(row.keywords.split("; ")[:10], unit_words)
        for row in words.topics.itertuples()
        if row.topic >= 0 and row.keywords
    ]
    return {
        "backend": name,
        "units": len(usable),
        "topics": scores["topics"],
        "npmi": scores["coherence_npmi_mean"],
        "npmi_ctfidf": round(float(np.mean(plain_npmi)), 4),
        "stability_ari": scores["stability_ari"],
        "label_ari": round(adjusted_rand_score(gold, topics.to_numpy()), 4),
        "label_nmi": round(normalized_mutual_info_score(gold, topics.to_numpy()), 4),
        "lr_macro_f1": round(macro_f1(embedded.vectors, gold), 4),
        "embed_cpu_s": round(embed_cpu, 1),
        "embedded_now": embedded.embedded,
        "weights": embedded.weights,
    }


def main() -> None:
    if not DEBATE.is_file():
        print(f"embeddings benchmark skipped: {DEBATE} not found")
        return
    cache = Path(os.environ.get("CDA_EMBEDDING_CACHE") or REPO / "test-artifacts" / "embeddings")
    units = labelled_units()
    segments = segments_of(units)
    nlp, _ = load_pipeline("none-blank", "nl")
    _, tokens = analyse(segments, nlp)
    themes = units.set_index("unit")["theme"]
    rows = [evaluate(name, segments, tokens, themes, cache) for name in BACKENDS]
    table = pd.DataFrame(rows)
    counts = themes.value_counts().to_dict()
    print(f"{len(units)} hand-labelled units of {DEBATE.parent.name}; themes {counts}")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
