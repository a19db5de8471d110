"""The second-seed refit behind ``quality.json``'s stability, cached until its inputs change.

Stability is the agreement (ARI) between the topics of ``random_state`` and of
``stability_seed``: a whole second BERTopic fit, which on a workshop costs as much as the first.
Its result depends only on the modelled units, their embeddings, the topics settings, the
second seed and the library versions, so it is stored with a hash of exactly those
(``data/interim/topics/stability-round-N.json``) and refitted only when one of them changes.
A cache entry that does not match (other key, other unit count, unreadable) is refitted and
replaced, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from pipeline.core.config import TopicsConfig
from pipeline.core.io import write_text
from pipeline.topics.model import TopicModel, assign

log = logging.getLogger(__name__)

FORMAT = 1
LIBRARIES = ("bertopic", "umap-learn", "hdbscan", "scikit-learn", "numpy", "scipy")


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def stability_key(model: TopicModel, cfg: TopicsConfig) -> str:
    """SHA-256 of what the second-seed assignment depends on: the settings (seeds included),
    the library versions, each modelled unit (id, window, lemmas) and the exact embedding
    vectors it is clustered on."""
    digest = hashlib.sha256()
    head = {"format": FORMAT, "settings": cfg.model_dump(mode="json"), "versions": _versions()}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for (segment_id, unit), doc in model.docs.items():
        digest.update(f"\0{segment_id}\t{int(unit)}\t{doc}".encode())
    if model.embedded is not None:
        vectors = np.ascontiguousarray(model.embedded.vectors, dtype=np.float64)
        digest.update(f"\0{vectors.shape}".encode())
        digest.update(vectors.tobytes())
    return digest.hexdigest()


def refit(model: TopicModel, cfg: TopicsConfig) -> np.ndarray:
    """The units' topics with ``stability_seed``: same units, embeddings and settings."""
    _, topics, _ = assign(model.docs, cfg, seed=cfg.stability_seed, embedded=model.embedded)
    return np.asarray(topics, dtype=int)


def _cached(path: Path, key: str, n_units: int) -> np.ndarray | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.info("stability cache %s unreadable (%s): refitting", path, exc)
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    topics = data.get("topics")
    if not isinstance(topics, list) or len(topics) != n_units:
        return None
    return np.asarray(topics, dtype=int)


def second_seed_topics(model: TopicModel, cfg: TopicsConfig, *, cache: Path | None) -> np.ndarray:
    """:func:`refit`, or its stored result when nothing it depends on changed (``cache``:
    the JSON file; ``None`` always refits)."""
    if cache is None:
        return refit(model, cfg)
    key = stability_key(model, cfg)
    stored = _cached(cache, key, len(model.docs))
    if stored is not None:
        return stored
    topics = refit(model, cfg)
    entry = {"format": FORMAT, "key": key, "seed": cfg.stability_seed, "topics": topics.tolist()}
    write_text(cache, json.dumps(entry) + "\n")
    return topics
