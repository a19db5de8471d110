"""The bare-library comparators of ``make bench-overhead`` (:mod:`benchmarks.overhead`).

Run as ``python -m benchmarks.overhead_bare STAGE SPEC.json``, in a fresh process, exactly as
``cda STAGE`` is. This module imports no ``pipeline`` code on purpose: it is what a user would
write with the libraries alone. ``SPEC.json`` (written by the benchmark's preparation) names the
same input files the stage reads and the component settings the stage's config resolves to
(``get_params()`` of the stage's own UMAP, HDBSCAN, TF-IDF ...), so both sides do the same work
on the same input. Each function writes its result under ``spec["out"]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def nlp(spec: dict) -> None:
    """The study's backend over the segment texts, and a parquet of the same token rows.

    blank: ``spacy.blank`` + sentencizer, simplemma lemma per token, ``nlp.pipe`` in batches of
    ``nlp.batch_size``. frog: the Frog program over the texts in batches of
    ``nlp.frog_batch_words`` (JSON out), the same options the stage passes."""
    import pandas as pd

    segments = pd.read_parquet(spec["segments"], columns=["segment_id", "text"])
    ids, texts = segments["segment_id"].tolist(), segments["text"].tolist()
    if spec["backend"] == "frog":
        rows, sents = _frog_rows(ids, texts, spec)
    else:
        rows, sents = _spacy_rows(ids, texts, spec)
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    cols = ["segment_id", "token_index", "sentence_index", "text", "lemma", "pos", "is_stop",
            "is_punct", "is_alpha", "char_start"]  # fmt: skip
    pd.DataFrame(rows, columns=cols).to_parquet(out / "tokens.parquet", index=False)
    columns = ["segment_id", "sentence_index", "start", "end", "text"]
    pd.DataFrame(sents, columns=columns).to_parquet(out / "sentences.parquet", index=False)


def _spacy_rows(ids: list[str], texts: list[str], spec: dict):
    import simplemma
    import spacy

    nlp = spacy.blank(spec["language"])
    nlp.add_pipe("sentencizer")
    lang = spec["language"]
    rows, sents = [], []
    for sid, doc in zip(ids, nlp.pipe(texts, batch_size=spec["batch_size"]), strict=True):
        for s_index, sent in enumerate(doc.sents):
            sents.append((sid, s_index, sent.start_char, sent.end_char, sent.text))
            for tok in sent:
                if tok.is_space:
                    continue
                text = tok.text
                lemma = simplemma.lemmatize(text, lang=lang) if tok.is_alpha else text
                rows.append((sid, tok.i, s_index, text, lemma.lower(), None, tok.is_stop,
                             tok.is_punct, tok.is_alpha, tok.idx))  # fmt: skip
    return rows, sents


def _json_stream(text: str) -> list:
    """Frog's ``--JSONout``: one JSON array per sentence, back to back (not one document)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return found
        item, at = decoder.raw_decode(text, at)
        found.append(item)


def _frog_rows(ids: list[str], texts: list[str], spec: dict):
    import subprocess
    import tempfile

    rows, sents = [], []
    batches, batch, words = [], [], 0
    for sid, text in zip(ids, texts, strict=True):
        batch.append((sid, text))
        words += len(text.split())
        if words >= spec["frog_batch_words"]:
            batches.append(batch)
            batch, words = [], 0
    batches += [batch] if batch else []
    for part in batches:
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp) / "in.txt", Path(tmp) / "out.json"
            # one turn per paragraph: Frog keeps paragraphs apart
            source.write_text("\n\n".join(t for _, t in part) + "\n", encoding="utf-8")
            command = [spec["frog"], "-t", str(source), "--JSONout", "-o", str(target),
                       f"--threads={spec['frog_threads']}"]  # fmt: skip
            if not spec["parser"]:
                command.append("--skip=p")
            subprocess.run(command, check=True, capture_output=True, cwd=tmp)
            data = _json_stream(target.read_text(encoding="utf-8"))
        # Frog's paragraphs are not mapped back to turns here: the rows carry the batch's
        # first id, enough to write the same number of token rows
        sid = part[0][0]
        for s_index, sentence in enumerate(data if isinstance(data, list) else [data]):
            words_ = sentence.get("words", []) if isinstance(sentence, dict) else sentence
            sents.append((sid, s_index, 0, 0, ""))
            for i, word in enumerate(words_):
                text = word.get("text", "")
                lemma = word.get("lemma", text).lower()
                rows.append((sid, i, s_index, text, lemma, word.get("pos"), False,
                             not text.isalnum(), text.isalpha(), 0))  # fmt: skip
    return rows, sents


def topics(spec: dict) -> None:
    """One BERTopic fit with the stage's components on the stage's documents.

    The same unit documents (content lemmas), the same e5 vectors (precomputed: the stage reads
    them from its embedding cache), TF-IDF + truncated SVD with the stage's settings, the same
    centring and block weights for ``combined``, the same UMAP, HDBSCAN (or PCA, k-means),
    CountVectorizer, c-TF-IDF and KeyBERT-style representation; topic words are embedded
    through a lookup of precomputed query vectors. Writes one parquet of unit topics."""
    import numpy as np
    import pandas as pd
    from bertopic import BERTopic
    from bertopic.backend import BaseEmbedder
    from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance
    from bertopic.vectorizers import ClassTfidfTransformer
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    units = pd.read_parquet(spec["docs"])
    docs = units["doc"].tolist()
    tf = TfidfVectorizer(**spec["tfidf"])
    x = tf.fit_transform(docs)
    k = max(1, min(spec["svd_components"], x.shape[0] - 1, x.shape[1] - 1))
    svd = make_pipeline(tf, TruncatedSVD(k, random_state=spec["random_state"]), Normalizer())
    lexical = svd.fit_transform(docs)
    name = spec["embedding"]
    if name == "tfidf":
        vectors, words_of = lexical, svd.transform
    else:
        stored = np.load(spec["vectors"])
        neural = stored["passages"].astype(float)
        lookup = dict(zip(stored["query_texts"].tolist(), stored["queries"], strict=True))
        blank = np.zeros(stored["queries"].shape[1])  # BERTopic's '' filler words
        mean = neural.mean(axis=0)

        def unit(m):
            n = np.linalg.norm(m, axis=1, keepdims=True)
            return np.divide(m, n, out=np.zeros_like(m, dtype=float), where=n > 0)

        if name == "combined":
            semantic = unit(neural - mean)
            spreads = [max(float((b**2).sum()) / len(b) - float(b.mean(0) @ b.mean(0)), 1e-6)
                       for b in (semantic, lexical)]  # fmt: skip
            raw = np.array([1 / np.sqrt(s) for s in spreads])
            w = (raw / np.sqrt((raw**2).sum())).round(6)
            vectors = np.hstack([w[0] * semantic, w[1] * unit(lexical)])

            def words_of(words):
                q = unit(np.stack([lookup.get(t, blank) for t in words]).astype(float) - mean)
                return np.hstack([w[0] * q, w[1] * unit(svd.transform(words))])
        else:
            vectors = neural

            def words_of(words):
                return np.stack([lookup.get(t, blank) for t in words]).astype(float)

    known = dict(zip(docs, np.asarray(vectors, dtype=float), strict=True))

    class Lookup(BaseEmbedder):
        """Units by lookup (representative docs), words as queries (KeyBERT candidates)."""

        def embed(self, documents, verbose=False):
            documents = list(documents)
            missing = [d for d in dict.fromkeys(documents) if d not in known]
            if missing:
                known.update(zip(missing, words_of(missing), strict=True))
            return np.stack([known[d] for d in documents])

    if spec["reducer"] == "umap":
        from umap import UMAP

        if spec.get("cache_kernels"):
            _cache_numba_kernels(("umap", "pynndescent"))
        reducer = UMAP(**spec["reducer_params"])
    else:
        from sklearn.decomposition import PCA

        reducer = PCA(**spec["reducer_params"])
    if spec["clusterer"] == "hdbscan":
        from hdbscan import HDBSCAN

        clusterer = HDBSCAN(**spec["clusterer_params"])
    else:
        from sklearn.cluster import KMeans

        clusterer = KMeans(**spec["clusterer_params"])
    rep = spec["representation"]
    representation = (
        KeyBERTInspired(**spec["representation_params"])
        if rep == "keybert"
        else MaximalMarginalRelevance(**spec["representation_params"])
        if rep == "mmr"
        else None
    )
    model = BERTopic(
        embedding_model=Lookup(),
        umap_model=reducer,
        hdbscan_model=clusterer,
        vectorizer_model=CountVectorizer(**spec["count"]),
        ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
        representation_model=representation,
        top_n_words=spec["top_words"],
        calculate_probabilities=False,
    )
    found, _ = model.fit_transform(docs, embeddings=np.asarray(vectors, dtype=float).copy())
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    units.assign(topic=found)[["segment_id", "unit", "topic"]].to_parquet(
        out / "doc_topics.parquet", index=False
    )


def _cache_numba_kernels(packages: tuple[str, ...]) -> None:
    """numba's on-disk cache for every module-level kernel of ``packages`` (``--bare-kernels
    cache``): the bare fit then pays no compilation either, as the stage does not."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in packages:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and isinstance(value._cache, NullCache):
                value.enable_caching()


def suggest(spec: dict) -> None:
    """Cosine similarity of every segment to every code text, top ``k`` above the threshold.

    Lemma texts of the segments from the nlp stage's ``tokens.parquet`` (alphabetic, not stop
    words); the codes' texts lemmatised as the stage does (given in the spec); TF-IDF fitted on
    both; e5 vectors precomputed (passages: segments, queries: code texts), centred on the
    segments' mean; ``combined`` weighs the two cosines as the stage does."""
    import numpy as np
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer

    segments = pd.read_parquet(spec["segments"], columns=["segment_id", "text"])
    tokens = pd.read_parquet(spec["tokens"], columns=["segment_id", "lemma", "is_alpha", "is_stop"])
    stop = set(spec["stop"])
    content = tokens[tokens["is_alpha"] & ~tokens["is_stop"] & ~tokens["lemma"].isin(stop)]
    lemma = content.groupby("segment_id", sort=False)["lemma"].apply(" ".join)
    seg_texts = lemma.reindex(segments["segment_id"]).fillna("").tolist()
    name = spec["embedding"]
    matrix = TfidfVectorizer(**spec["tfidf"]).fit_transform([*seg_texts, *spec["code_lemmas"]])
    seg, codes = matrix[: len(seg_texts)], matrix[len(seg_texts) :]
    lexical = (seg @ codes.T).toarray()
    sims = lexical
    if name != "tfidf":
        stored = np.load(spec["vectors"])
        passages, queries = stored["passages"].astype(float), stored["codes"].astype(float)
        mean = passages.mean(axis=0)

        def unit(m):
            n = np.linalg.norm(m, axis=1, keepdims=True)
            return np.divide(m, n, out=np.zeros_like(m), where=n > 0)

        p, q = unit(passages - mean), unit(queries - mean)
        neural = p @ q.T
        sims = neural
        if name == "combined":
            spreads = []
            for block in (p, seg):
                n, m = block.shape[0], np.asarray(block.mean(axis=0)).ravel()
                sq = block.multiply(block).sum() if hasattr(block, "multiply") else (block**2).sum()
                spreads.append(max(float(sq) / n - float(m @ m), 1e-6))
            raw = np.array([1 / np.sqrt(s) for s in spreads])
            w = raw / np.sqrt((raw**2).sum())
            sims = w[0] ** 2 * neural + w[1] ** 2 * lexical
    top = np.argsort(-sims, axis=1)[:, : spec["top_k"]]
    rows = [
        (sid, spec["codes"][j], float(sims[i, j]))
        for i, sid in enumerate(segments["segment_id"])
        for j in top[i]
        if sims[i, j] >= spec["min_similarity"]
    ]
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["segment_id", "code", "score"]).to_parquet(
        out / "suggestions.parquet", index=False
    )


def report(spec: dict) -> None:
    """Code prevalence per group and the top lemmas per code, rendered into one HTML page.

    One merge of the codings with the segments (groups) and one with the tokens, two pandas
    groupbys, one jinja2 template."""
    import jinja2
    import pandas as pd

    codings = pd.read_parquet(spec["codings"], columns=["segment_id", "coder", "code"])
    codings = codings.dropna(subset=["code"])
    segments = pd.read_parquet(spec["segments"], columns=["segment_id", "group"])
    tokens = pd.read_parquet(spec["tokens"], columns=["segment_id", "lemma", "is_alpha", "is_stop"])
    coded = codings.drop_duplicates(["segment_id", "code"]).merge(segments, on="segment_id")
    sizes = segments.groupby("group").size()
    prevalence = coded.groupby(["code", "group"]).size().unstack(fill_value=0)
    share = (prevalence / sizes).round(3)
    content = tokens[tokens["is_alpha"] & ~tokens["is_stop"]]
    words = coded[["segment_id", "code"]].merge(content[["segment_id", "lemma"]], on="segment_id")
    counts = words.groupby(["code", "lemma"]).size().rename("n").reset_index()
    top = counts.sort_values(["code", "n"], ascending=[True, False]).groupby("code").head(10)
    template = jinja2.Environment(autoescape=True).from_string(
        "<html><body><h1>{{ study }}</h1><table>{% for code, row in share.iterrows() %}"
        "<tr><td>{{ code }}</td>{% for v in row %}<td>{{ v }}</td>{% endfor %}"
        "<td>{{ words.get(code, '') }}</td></tr>{% endfor %}</table></body></html>"
    )
    words_of = top.groupby("code")["lemma"].apply(", ".join).to_dict()
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    html = template.render(study=spec["study"], share=share, words=words_of)
    (out / "index.html").write_text(html, encoding="utf-8")


def push(spec: dict) -> None:
    """One project with the stage's labelling config and one ``import_tasks`` of its tasks."""
    from label_studio_sdk import LabelStudio

    tasks = json.loads(Path(spec["tasks"]).read_text(encoding="utf-8"))
    client = LabelStudio(base_url=spec["url"], api_key=spec["token"])
    project = client.projects.create(title=spec["title"], label_config=spec["label_config"])
    client.projects.import_tasks(id=project.id, request=tasks)


STAGES = {"nlp": nlp, "topics": topics, "suggest": suggest, "report": report, "push": push}


def main(argv: list[str]) -> None:
    stage, spec = argv
    STAGES[stage](json.loads(Path(spec).read_text(encoding="utf-8")))


if __name__ == "__main__":
    main(sys.argv[1:])
