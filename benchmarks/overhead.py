"""``make bench-overhead``: each stage's wall time against the bare libraries doing its work.

Input: two generated 2-hour workshops (``burgers``, ``deskundigen``; a facilitator and eight
participants each) of about ``30,000 × scale`` words, :func:`turns`: turns of 1-4 sentences
resampled with a fixed seed from the bundled sample's two workshops and, when present, the
ParlaMint debate in ``../shared`` (real Dutch, spoken and debated). ``--scale 1,16`` (16x:
about 480,000 words; with e5, embedding them once costs ~30 CPU-minutes before anything is
timed, and one UMAP fit on 16,000 units several minutes: run ``--scale 1`` for a quick look).

Process model, the same for both sides: one fresh process per run, wall time from start to
exit, peak RSS of that process (``os.wait4``). "ours" is ``cda STAGE -w WS`` on a copy of a
prepared workspace; "bare" is ``python -m benchmarks.overhead_bare STAGE spec.json``
(:mod:`benchmarks.overhead_bare`, which imports no ``pipeline`` code) on the same input files.
Runs are interleaved (ours, bare, ours, bare ...), ``--runs`` of each (default 3), medians.
Two states of the workspace are timed for ours (``--modes``):

- ``first``: the stage has not run yet (the workspace as the previous stage left it);
- ``rerun``: every stage has run once and nothing changed (a ``make`` after an edit
  elsewhere): the work a stage then must do is at most the bare call's.

The e5 vectors are computed once while preparing, into a cache kept under
``test-artifacts/bench-overhead/`` (``CDA_EMBEDDING_CACHE``): the stage reads them from that
cache and the bare comparator from an ``.npz`` of the same vectors, so neither side pays e5.

Comparators (what "bare" does, on the files named):

- nlp: the study's backend (``--backend``; default: what ``nlp.backend: auto`` resolves to
  here, printed) over ``segments.parquet``: blank = ``spacy.blank`` + sentencizer + simplemma
  per token, ``nlp.pipe`` in the stage's batches; frog = the Frog program in the stage's batches
  (JSON out, its rows not mapped back to turns); then a parquet of the token and sentence rows.
  Ours also matches discourse markers and reads clauses from the tokens (analysis it must do).
- topics: one BERTopic fit on the stage's unit documents with the stage's resolved components
  (``get_params()`` of its UMAP / HDBSCAN or PCA / k-means, TF-IDF + SVD, c-TF-IDF,
  KeyBERT-style words, the same e5 vectors and ``combined`` weighting), one parquet out. Ours
  also writes its tables, figures and quality scores (coherence, stability). UMAP's numba
  kernels: the stage keeps them on disk (``pipeline/topics/kernels.py``), so from its second
  process on it compiles none; bare compiles them in every process as umap-learn does, unless
  ``--bare-kernels cache`` gives it the same cache (then the ratio is the stage's own overhead).
- suggest: the same similarity (TF-IDF over the lemmas of ``tokens.parquet`` and the code
  texts, e5 vectors centred, ``combined`` weights), top ``suggest.top_k`` per segment above
  ``min_similarity``, one parquet out. Ours also matches keywords and exclusion notes.
  ``suggest.learn`` is off in the bench study: the comparator is zero-shot.
- report: codings merged with segments and tokens, code prevalence per group and top lemmas
  per code (two groupbys), one jinja2 page. Ours writes the full report (agreement, framing,
  grammar, figures ...), so this ratio bounds the overhead from above; the issue's own report
  target is an absolute time (5,000 segments < 3 s, ``make bench-report``).
- push (only with ``.venvs/labelstudio``; a real server on 127.0.0.1 as
  :mod:`benchmarks.ls`): one project and one ``import_tasks`` of the tasks the stage sends.
- ``cda --help``: wall time only (``python -c pass`` beside it for the interpreter's share).

Prints one line per stage and mode ending in ``ratio X.XX`` (ours median / bare median), the
``cda --help`` time, and the whole text pipeline (nlp, topics, suggest, report, first runs) per
scale with its peak RSS. A measurement, not a test: say how loaded the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from benchmarks import REPO, SAMPLE

DEBATE = REPO.parent / "shared" / "data" / "parlamint-nl-toeslagen-2021-06-09" / "turns.tsv"
STARTER = SAMPLE / "codebooks" / "digitalisering-cohesie" / "round-1.yaml"
STUDY = "digitalisering-cohesie"
GROUPS = ("burgers", "deskundigen")
WORDS_1X = 30000  # two 2-hour workshops
WORKSHOP_SECONDS = 7200.0
PARTICIPANTS = 8
TEXT_STAGES = ("nlp", "topics", "suggest", "report")
STAGES = (*TEXT_STAGES, "push", "help")
CACHE = REPO / "test-artifacts" / "bench-overhead" / "embeddings"
LS_VENV = REPO / ".venvs" / "labelstudio"

# input ----------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[A-Z0-9\"'‘“(\[])")
_CUE = re.compile(r"^\d\d:\d\d[:.\d]* --> ")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` by end punctuation followed by a capital (no model: the pool must
    not depend on the nlp backend under test)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if len(s.split()) >= 2]


def sentence_pool() -> tuple[list[str], str]:
    """The sentences turns are drawn from: the sample's workshops, and the debate if present."""
    turns = []
    for line in (SAMPLE / "raw" / "burgers.txt").read_text(encoding="utf-8").splitlines():
        if ":" in line:
            turns.append(line.split("]", 1)[-1].split(":", 1)[-1])
    for line in (SAMPLE / "raw" / "deskundigen.vtt").read_text(encoding="utf-8").splitlines():
        cue = not line.strip() or _CUE.match(line) or line.strip().isdigit()
        if not cue and line.strip() != "WEBVTT":
            turns.append(re.sub(r"<v [^>]*>|</v>", "", line).split(":", 1)[-1])
    source = "bundled sample"
    if DEBATE.is_file():
        table = pd.read_csv(DEBATE, sep="\t", dtype=str, keep_default_na=False)
        turns += table["text"].tolist()
        source += " + ParlaMint-NL 2021-06-09"
    pool = [s for turn in turns for s in split_sentences(turn)]
    return pool, source


def turns(words: int, *, seed: int = 21, pool: list[str] | None = None) -> pd.DataFrame:
    """Two workshops of ``words`` words in all (the first turn that reaches the target ends
    each), as a segments table: turns of 1-4 sentences drawn with ``seed``, every sixth turn the
    facilitator's, spread evenly over two hours per workshop. Deterministic for a seed."""
    if pool is None:
        pool, _ = sentence_pool()
    rng = random.Random(seed)
    rows = []
    for g, group in enumerate(GROUPS):
        target = words // 2 + (words % 2 if g == 0 else 0)
        texts, count = [], 0
        while count < target:
            text = " ".join(rng.choice(pool) for _ in range(rng.randint(1, 4)))
            texts.append(text)
            count += len(text.split())
        step = WORKSHOP_SECONDS / len(texts)
        for i, text in enumerate(texts):
            facilitator = i % 6 == 0
            speaker = "F01" if facilitator else f"P{g * PARTICIPANTS + rng.randrange(8) + 1:02d}"
            rows.append({"recording_id": group, "group": group,
                         "segment_id": f"{group}-{i + 1:04d}", "start": round(i * step, 2),
                         "end": round((i + 1) * step - 0.5, 2), "overlap": 0.0,
                         "speaker": speaker,
                         "role": "facilitator" if facilitator else "participant",
                         "text": text, "source": "bench"})  # fmt: skip
    return pd.DataFrame(rows)


def word_count(segments: pd.DataFrame) -> int:
    return int(segments["text"].str.split().str.len().sum())


# timing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    wall: float
    rss_mb: float


# A small launcher forks the measured process: a child forked from this (large) process
# would inherit its peak RSS, which survives exec.
LAUNCHER = (
    "import json, os, subprocess, sys, time\n"
    "began = time.perf_counter()\n"
    "proc = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(proc.pid, 0)\n"
    "wall = time.perf_counter() - began\n"
    "code = os.waitstatus_to_exitcode(status)\n"
    "open(sys.argv[1], 'w').write(json.dumps([wall, usage.ru_maxrss, code]))\n"
    "sys.exit(code)\n"
)


def timed(command: list[str], *, env: dict[str, str], log: Path) -> Run:
    """Wall time and peak RSS of one fresh process; its output goes to ``log``."""
    result = log.with_suffix(".time.json")
    with log.open("w") as out:
        proc = subprocess.run([sys.executable, "-c", LAUNCHER, str(result), *command],
                              stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)  # fmt: skip
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{tail}")
    wall, rss_kb, _ = json.loads(result.read_text())
    return Run(wall, rss_kb / 1024)


def median(runs: list[Run]) -> Run:
    return Run(statistics.median(r.wall for r in runs), max(r.rss_mb for r in runs))


def ratio_line(stage: str, ours: list[Run], bare: list[Run]) -> str:
    """``stage  ours X s (Y MB)  bare X s (Y MB)  ratio R``: medians of wall time, the larger
    peak RSS of the runs."""
    o, b = median(ours), median(bare)
    return (
        f"{stage:<16} ours {o.wall:7.2f} s ({o.rss_mb:6.0f} MB)  bare {b.wall:7.2f} s "
        f"({b.rss_mb:6.0f} MB)  runs {len(ours)}/{len(bare)}  ratio {o.wall / b.wall:.2f}"
    )


# preparation ----------------------------------------------------------------------------------


def cda() -> list[str]:
    script = Path(sys.executable).parent / "cda"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "pipeline"]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    CACHE.mkdir(parents=True, exist_ok=True)
    env["CDA_EMBEDDING_CACHE"] = str(CACHE)
    env.pop("CDA_NLP_BACKEND", None)  # the study's nlp.backend decides
    return env


def resolve_backend(choice: str) -> str:
    """What ``nlp.backend: auto`` (or the choice) resolves to on this machine."""
    from pipeline.core.config import NlpConfig
    from pipeline.language.parse import load_backend

    os.environ.pop("CDA_NLP_BACKEND", None)
    return load_backend(NlpConfig(backend=choice), "nl").info.backend


def write_study(root: Path, segments: pd.DataFrame, *, backend: str, embedding: str):
    """A workspace with the segments, the sample's starter codebook and the bench settings."""
    from pipeline.cli.init import init_workspace
    from pipeline.core.io import write_table
    from pipeline.core.paths import Workspace
    from pipeline.core.schemas import SEGMENTS

    ws = Workspace.at(root)
    init_workspace(ws, study=STUDY, groups=list(GROUPS))
    settings = {
        "nlp": {"backend": backend},
        "topics": {"embedding": embedding},
        "suggest": {"similarity": embedding, "learn": False},
        "report": {"round": 1, "quotes": False},
    }
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write(yaml.safe_dump(settings, sort_keys=False))
    write_table(segments, SEGMENTS, ws.segments)
    folder = ws.codebooks / STUDY
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(STARTER, folder / "round-1.yaml")
    return ws


def codings(ws, seed: int = 0) -> None:
    """Two coders' codes (seeded, 0-2 codes per segment, 80 % agreement) for the report."""
    from benchmarks.report import seeded_codings

    ids = [c["id"] for c in yaml.safe_load(STARTER.read_text(encoding="utf-8"))["codes"]]
    seeded_codings(ws, ids, seed=seed)


def _params(estimator) -> dict:
    return {k: v for k, v in estimator.get_params().items() if _plain(v)}


def _plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def topics_spec(ws, config, out: Path, *, cache_kernels: bool = False) -> dict:
    """The topics stage's documents, vectors and resolved components, for the bare fit."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    from pipeline.core.io import read_table
    from pipeline.core.schemas import SEGMENTS, TOKENS
    from pipeline.language.embeddings import (
        TOKEN_PATTERN,
        encode_cached,
        encoder_for,
        resolve,
        tfidf_vectoriser,
    )
    from pipeline.topics import model as tm

    cfg = config.topics
    segments, tokens = read_table(ws.segments, SEGMENTS), read_table(ws.tokens, TOKENS)
    docs = tm.usable_docs(tm.documents(segments, tokens, cfg, language=config.language), cfg)
    texts = tm.unit_texts(segments, tokens, cfg).reindex(docs.index).fillna("")
    units = pd.DataFrame({"segment_id": docs.index.get_level_values("segment_id"),
                          "unit": docs.index.get_level_values("unit"), "doc": docs.tolist(),
                          "text": texts.tolist()})  # fmt: skip
    units.to_parquet(out / "topics-docs.parquet", index=False)
    info = resolve(cfg.embedding, role="topics", model=cfg.embedding_model)
    n = len(docs)
    reducer = tm.reducer(cfg, n, cfg.random_state)
    clusterer = tm.clusterer(cfg, n, cfg.random_state)
    reducer_params = _params(reducer)
    if type(reducer).__name__ != "UMAP":  # the stage's PCA wrapper shrinks to the data
        reducer_params = {"n_components": reducer.n_components, "random_state": cfg.random_state}
    representation = tm.representation(cfg)
    spec = {
        "docs": str(out / "topics-docs.parquet"),
        "embedding": info.name,
        "tfidf": _params(tfidf_vectoriser()),
        "svd_components": cfg.svd_components,
        "random_state": cfg.random_state,
        "reducer": "umap" if type(reducer).__name__ == "UMAP" else "pca",
        "reducer_params": reducer_params,
        "clusterer": "hdbscan" if type(clusterer).__name__ == "HDBSCAN" else "kmeans",
        "clusterer_params": _params(clusterer),
        "representation": cfg.representation,
        "representation_params": _params(representation) if representation else {},
        "count": {"min_df": 1, "token_pattern": TOKEN_PATTERN},
        "top_words": cfg.top_words,
        "out": str(out / "bare-topics"),
        "cache_kernels": cache_kernels,
    }
    if info.name != "tfidf":
        encoder = encoder_for(info)
        words = CountVectorizer(min_df=1, token_pattern=TOKEN_PATTERN).fit(docs.tolist())
        vocabulary = words.get_feature_names_out().tolist()
        passages, _ = encode_cached(texts.tolist(), encoder, kind="passage", cache_dir=CACHE)
        queries, _ = encode_cached(vocabulary, encoder, kind="query", cache_dir=CACHE)
        np.savez(out / "topics-vectors.npz", passages=passages, queries=queries,
                 query_texts=np.array(vocabulary, dtype=str))  # fmt: skip
        spec["vectors"] = str(out / "topics-vectors.npz")
    return spec


def suggest_spec(ws, config, out: Path) -> dict:
    """The suggest stage's code texts (and their lemmas), settings and vectors."""
    import numpy as np

    from pipeline.codebook import load_round
    from pipeline.language.embeddings import encode_cached, encoder_for, resolve, tfidf_vectoriser
    from pipeline.language.parse import load_blank
    from pipeline.language.spoken import spoken_stopwords
    from pipeline.suggest import code_text, lemma_text

    book = load_round(ws, config, 1).book
    texts = [code_text(c) for c in book.codes]
    nlp, _ = load_blank(config.language)
    stop = spoken_stopwords(config.language)
    info = resolve(config.suggest.similarity, role="suggest")
    spec = {
        "segments": str(ws.segments),
        "tokens": str(ws.tokens),
        "stop": sorted(stop),
        "codes": [c.id for c in book.codes],
        "code_lemmas": [lemma_text(d, stop) for d in nlp.pipe(texts)],
        "tfidf": _params(tfidf_vectoriser()),
        "embedding": info.name,
        "top_k": config.suggest.top_k,
        "min_similarity": config.suggest.min_similarity,
        "out": str(out / "bare-suggest"),
    }
    if info.name != "tfidf":
        encoder = encoder_for(info)
        segments = pd.read_parquet(ws.segments)["text"].tolist()
        passages, _ = encode_cached(segments, encoder, kind="passage", cache_dir=CACHE)
        codes, _ = encode_cached(texts, encoder, kind="query", cache_dir=CACHE)
        np.savez(out / "suggest-vectors.npz", passages=passages, codes=codes)
        spec["vectors"] = str(out / "suggest-vectors.npz")
    return spec


def nlp_spec(ws, config, out: Path, backend: str) -> dict:
    from pipeline.language import frog

    settings = config.nlp
    spec = {
        "segments": str(ws.segments),
        "backend": backend,
        "language": config.language,
        "batch_size": settings.batch_size,
        "out": str(out / "bare-nlp"),
    }
    if backend == "frog":
        binary = frog.find_frog(settings.frog)
        spec |= {"frog": binary, "parser": settings.parser,
                 "frog_batch_words": settings.frog_batch_words,
                 "frog_threads": frog.FrogSettings(binary).threads}  # fmt: skip
    return spec


def report_spec(ws, config, out: Path) -> dict:
    return {
        "codings": str(ws.codings(1)),
        "segments": str(ws.segments),
        "tokens": str(ws.tokens),
        "study": config.study,
        "out": str(out / "bare-report"),
    }


@dataclass
class Prepared:
    """Snapshots of one workspace: ``before[stage]`` as the previous stage left it, ``done``
    after every stage ran once; ``specs[stage]`` the bare comparator's spec file."""

    before: dict[str, Path]
    done: Path
    specs: dict[str, Path]
    words: int
    segments: int


def prepare(root: Path, segments: pd.DataFrame, *, backend: str, embedding: str,
            env: dict[str, str], stages: list[str],
            bare_kernels: str = "compile") -> Prepared:  # fmt: skip
    """Run the text stages once in order (through ``cda``), snapshotting the workspace before
    each, and write each bare comparator's spec from the stage's own resolved settings."""
    from pipeline.core.config import load_config

    ws = write_study(root / "ws", segments, backend=backend, embedding=embedding)
    config = load_config(ws)
    before, specs = {}, {}
    spec_of = {
        "nlp": lambda: nlp_spec(ws, config, root, backend),
        "topics": lambda: topics_spec(ws, config, root, cache_kernels=bare_kernels == "cache"),
        "suggest": lambda: suggest_spec(ws, config, root),
        "report": lambda: report_spec(ws, config, root),
    }
    for stage in TEXT_STAGES:
        if stage == "report":
            codings(ws)
            timed([*cda(), "agreement", "-w", str(ws.root)], env=env, log=root / "prep.log")
        before[stage] = root / f"before-{stage}"
        shutil.copytree(ws.root, before[stage], symlinks=True)
        if stage in stages:
            specs[stage] = root / f"spec-{stage}.json"
            specs[stage].write_text(json.dumps(spec_of[stage](), indent=1), encoding="utf-8")
        timed([*cda(), stage, "-w", str(ws.root)], env=env, log=root / f"prep-{stage}.log")
    return Prepared(before, ws.root, specs, word_count(segments), len(segments))


def fresh(snapshot: Path, scratch: Path) -> Path:
    """A copy of ``snapshot`` for one run (so every run starts from the same state)."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(snapshot, scratch, symlinks=True)
    return scratch


def bare_command(stage: str, spec: Path) -> list[str]:
    return [sys.executable, "-m", "benchmarks.overhead_bare", stage, str(spec)]


def measure_stage(stage: str, prep: Prepared, *, modes: list[str], runs: int,
                  env: dict[str, str], root: Path) -> dict[str, list[Run]]:  # fmt: skip
    """Interleaved runs: ours in each mode, then bare, ``runs`` times."""
    found: dict[str, list[Run]] = {mode: [] for mode in modes} | {"bare": []}
    log = root / f"run-{stage}.log"
    for _ in range(runs):
        for mode in modes:
            ws = fresh(prep.before[stage] if mode == "first" else prep.done, root / "scratch")
            found[mode].append(timed([*cda(), stage, "-w", str(ws)], env=env, log=log))
        out = Path(json.loads(prep.specs[stage].read_text())["out"])
        shutil.rmtree(out, ignore_errors=True)
        found["bare"].append(timed(bare_command(stage, prep.specs[stage]), env=env, log=log))
    return found


def measure_help(runs: int, env: dict[str, str], root: Path) -> tuple[list[Run], list[Run]]:
    ours, python = [], []
    for _ in range(runs):
        ours.append(timed([*cda(), "--help"], env=env, log=root / "help.log"))
        python.append(timed([sys.executable, "-c", "pass"], env=env, log=root / "help.log"))
    return ours, python


# Label Studio -----------------------------------------------------------------------------------


def measure_push(prep: Prepared, runs: int, env: dict[str, str], root: Path) -> dict[str, list]:
    """``cda ls push`` (coder A; first push: a new project each run; rerun: nothing new)
    against one project and one ``import_tasks`` of the same tasks, on a real local server."""
    from pipeline.codebook import load_round
    from pipeline.core.config import load_config
    from pipeline.core.paths import Workspace
    from pipeline.labelstudio import labeling as lsconfig
    from pipeline.labelstudio import server as labelstudio
    from pipeline.labelstudio.client import Client
    from pipeline.labelstudio.projects import export_tasks

    ws = Workspace.at(fresh(prep.done, root / "ls"))
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write(f"labelstudio:\n  port: {labelstudio.free_port()}\n  coders: [A]\n")
    config = load_config(ws)
    labelstudio.start(ws, config)
    found: dict[str, list] = {"first": [], "rerun": [], "bare": []}
    try:
        for key in (labelstudio.URL_KEY, labelstudio.TOKEN_KEY):
            env.pop(key, None)
        push_env = env | labelstudio_env(ws, config)
        book = load_round(ws, config, 1).book
        log = root / "run-push.log"
        spec_path = root / "spec-push.json"
        for run in range(runs):
            reset_projects(ws, config)
            found["first"].append(timed([*cda(), "ls", "push", "-w", str(ws.root)],
                                        env=push_env, log=log))  # fmt: skip
            found["rerun"].append(timed([*cda(), "ls", "push", "-w", str(ws.root)],
                                        env=push_env, log=log))  # fmt: skip
            if run == 0:
                with Client.open(ws, config) as client:
                    project = client.sdk.projects.list()
                    pid = next(iter(project)).id
                    made = task_predictions(client, pid)
                    tasks = [bare_task(t, made) for t in export_tasks(client, pid, "bench")]
                (root / "push-tasks.json").write_text(json.dumps(tasks), encoding="utf-8")
                spec_path.write_text(json.dumps({
                    "tasks": str(root / "push-tasks.json"), "title": "bare",
                    "label_config": lsconfig.labeling_config(book, audio=False),
                    "url": push_env[labelstudio.URL_KEY],
                    "token": push_env[labelstudio.TOKEN_KEY]}), encoding="utf-8")  # fmt: skip
            found["bare"].append(timed(bare_command("push", spec_path), env=push_env, log=log))
    finally:
        labelstudio.stop(ws)
    return found


def bare_task(exported: dict, predictions: dict[int, list[dict]]) -> dict:
    """A task as ``import_tasks`` takes it: its data and its predictions (by task id; an
    export lists a task's predictions by id only)."""
    made = predictions.get(exported["id"], [])
    return {"data": exported["data"], **({"predictions": made} if made else {})}


def task_predictions(client, project_id: int) -> dict[int, list[dict]]:
    found: dict[int, list[dict]] = {}
    for p in client.sdk.predictions.list(project=project_id):
        made = {"result": p.result, "score": p.score, "model_version": p.model_version}
        found.setdefault(p.task, []).append(made)
    return found


def labelstudio_env(ws, config) -> dict[str, str]:
    """The server's address and key, as ``cda`` finds them (the workspace's credentials)."""
    from pipeline.labelstudio import server as labelstudio

    found = labelstudio.connection(ws, config)
    return {labelstudio.URL_KEY: found.url, labelstudio.TOKEN_KEY: found.api_key}


def reset_projects(ws, config) -> None:
    """Delete the server's projects and the round's record of them (a first push again)."""
    from pipeline.codings.order import RoundProjects
    from pipeline.labelstudio.client import Client

    with Client.open(ws, config) as client:
        for project in list(client.sdk.projects.list()):
            client.sdk.projects.delete(id=project.id)
    RoundProjects(ws, 1).path.unlink(missing_ok=True)


# main -----------------------------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def options(argv: list[str] | None = None) -> argparse.Namespace:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.overhead", description=__doc__, formatter_class=raw
    )
    parser.add_argument("--scale", type=_csv, default=["1", "16"], help="x 30k words: 1,16")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stages", type=_csv, default=list(STAGES), help=",".join(STAGES))
    parser.add_argument("--modes", type=_csv, default=["first", "rerun"], help="first,rerun")
    parser.add_argument("--backend", default="auto", choices=["auto", "blank", "frog", "spacy"])
    parser.add_argument("--embedding", default="auto",
                        choices=["auto", "tfidf", "e5-small", "combined"])  # fmt: skip
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--bare-kernels", default="compile", choices=["compile", "cache"],
                        help="bare topics: compile UMAP's numba kernels in every process, as "
                        "umap-learn does, or keep them on disk as the stage does")  # fmt: skip
    args = parser.parse_args(argv)
    unknown = set(args.stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {sorted(unknown)}: choose from {','.join(STAGES)}")
    if set(args.modes) - {"first", "rerun"} or not args.modes:
        parser.error("--modes takes first, rerun or both")
    return args


def main(argv: list[str] | None = None) -> None:
    args = options(argv)
    backend = resolve_backend(args.backend)
    env = environment()
    load = os.getloadavg()
    print(f"bench-overhead: {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; nlp backend {backend} (--backend {args.backend}), embedding "
          f"{args.embedding}; {args.runs} run(s) each, interleaved, medians")  # fmt: skip
    pool, source = sentence_pool()
    if "help" in args.stages:
        with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
            ours, python = measure_help(args.runs, env, Path(tmp))
        print(f"{'cda --help':<16} {median(ours).wall:7.2f} s (python -c pass "
              f"{median(python).wall:.2f} s; target < 0.4 s)")  # fmt: skip
    text = [s for s in args.stages if s in TEXT_STAGES or s == "push"]
    for scale in args.scale:
        if not text:
            break
        segments = turns(int(WORDS_1X * float(scale)), seed=args.seed, pool=pool)
        with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
            root = Path(tmp)
            began = time.perf_counter()
            prep = prepare(root, segments, backend=backend, embedding=args.embedding, env=env,
                           stages=[s for s in text if s in TEXT_STAGES],
                           bare_kernels=args.bare_kernels)  # fmt: skip
            print(f"\n{scale}x: {prep.words} words in {prep.segments} turns ({source}); "
                  f"prepared in {time.perf_counter() - began:.0f} s")  # fmt: skip
            total: list[Run] = []
            for stage in text:
                if stage == "push":
                    if not LS_VENV.is_dir():
                        print("push: skipped (no .venvs/labelstudio: make setup-labelstudio)")
                        continue
                    found = measure_push(prep, args.runs, env, root)
                    modes = ["first", "rerun"]
                else:
                    found = measure_stage(stage, prep, modes=args.modes, runs=args.runs,
                                          env=env, root=root)  # fmt: skip
                    modes = args.modes
                for mode in modes:
                    line = ratio_line(f"{stage} ({mode})", found[mode], found["bare"])
                    print(line, flush=True)
                if stage in TEXT_STAGES and "first" in found:
                    total.append(median(found["first"]))
                if stage in TEXT_STAGES and len(total) == len(TEXT_STAGES):
                    wall, rss = sum(r.wall for r in total), max(r.rss_mb for r in total)
                    print(f"text pipeline {scale}x (nlp+topics+suggest+report, first runs): "
                          f"{wall:.1f} s, peak RSS {rss:.0f} MB (target at 1x < 20 s)")  # fmt: skip


if __name__ == "__main__":
    main()
