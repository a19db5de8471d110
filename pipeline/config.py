"""Study configuration (``cda.yaml`` in the workspace), one section per stage.

Each section is a frozen pydantic model, so a typo in a key is an error rather than a silently
ignored setting. :func:`stage_snapshot` serialises one section; the Makefile depends on that
snapshot, so editing the ``report`` section reruns the report but not the NLP stage.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline import yamlfile
from pipeline.errors import CdaError
from pipeline.paths import Workspace


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImportConfig(Section):
    """Transcript import: how strict to be about timing."""

    max_overlap: float = Field(
        0.2, ge=0, description="seconds a turn may start before the previous one ends"
    )


class PseudonymiseConfig(Section):
    """Speaker pseudonyms and name masking."""

    facilitator_labels: list[str] = Field(
        default_factory=lambda: ["Gespreksleider", "Facilitator", "Moderator", "Interviewer"],
        description="speaker labels (case-insensitive) that belong to the facilitator",
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
    placeholders: dict[str, str] = Field(
        default_factory=lambda: {
            "person": "[NAAM]",
            "place": "[PLAATS]",
            "organisation": "[ORGANISATIE]",
            "other": "[ANONIEM]",
        }
    )


class NlpConfig(Section):
    """spaCy pipeline: a trained one when installed, else blank + sentencizer + lookup lemmas."""

    model: str = "nl_core_news_md"
    batch_size: int = Field(256, ge=1)


class TopicsConfig(Section):
    """Round-1 candidate topics."""

    n_topics: int | None = Field(None, ge=2, description="None: chosen from corpus size")
    top_words: int = Field(10, ge=3)
    representatives: int = Field(3, ge=1)
    random_state: int = 42
    include_facilitator: bool = False
    min_tokens: int = Field(4, ge=1, description="segments with fewer content tokens are skipped")


class ReportConfig(Section):
    """Report: privacy switches and which round to report."""

    round: int = Field(1, ge=1)
    quotes: bool = Field(False, description="show pseudonymised verbatim text (opt-in)")


class StudyConfig(Section):
    """The whole ``cda.yaml``."""

    study: str
    language: str = "nl"
    groups: list[str] = Field(min_length=1)
    import_: ImportConfig = Field(default_factory=ImportConfig, alias="import")
    pseudonymise: PseudonymiseConfig = Field(default_factory=PseudonymiseConfig)
    nlp: NlpConfig = Field(default_factory=NlpConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("study")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not value.strip() or any(ch.isspace() for ch in value):
            raise ValueError("must be a non-empty slug without spaces, e.g. digitalisering-cohesie")
        return value


STAGES = ("import", "pseudonymise", "nlp", "topics", "report")


def load_config(ws: Workspace) -> StudyConfig:
    """Load and validate the workspace's ``cda.yaml``."""
    if not ws.config_file.exists():
        raise CdaError(
            f"no {ws.config_file.name} in workspace {ws.root}",
            hint=f"run `cda init --workspace {ws.root}` to create one",
        )
    return yamlfile.load_model(StudyConfig, ws.config_file)


def section(config: StudyConfig, stage: str) -> Section | None:
    return {
        "import": config.import_,
        "pseudonymise": config.pseudonymise,
        "nlp": config.nlp,
        "topics": config.topics,
        "report": config.report,
    }.get(stage)


def stage_snapshot(config: StudyConfig, stage: str) -> str:
    """The settings a stage depends on, as canonical JSON (study-level fields included)."""
    part = section(config, stage)
    payload = {
        "study": config.study,
        "language": config.language,
        "groups": config.groups,
        stage: part.model_dump(mode="json") if part is not None else None,
    }
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
