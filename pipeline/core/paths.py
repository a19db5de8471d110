"""Where things live in a workspace. No side effects at import or construction.

A workspace is one study: ``cda.yaml`` (its config), ``data/`` (raw, interim, processed and
private tables), ``codebooks/`` and ``reports/``. One checkout can serve several workspaces, and
tests run in temporary ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "cda.yaml"


@dataclass(frozen=True)
class Workspace:
    """Paths of one study workspace; every stage reads and writes only through these."""

    root: Path

    @classmethod
    def at(cls, root: str | Path) -> Workspace:
        return cls(Path(root).expanduser().resolve())

    # configuration ---------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def state_dir(self) -> Path:
        """Pipeline bookkeeping (per-stage config snapshots); safe to delete."""
        return self.root / ".cda"

    def stage_config_file(self, stage: str) -> Path:
        return self.state_dir / "config" / f"{stage}.json"

    # data ------------------------------------------------------------------------------------
    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def interim(self) -> Path:
        return self.data / "interim"

    @property
    def processed(self) -> Path:
        return self.data / "processed"

    @property
    def private(self) -> Path:
        """Identifying material (original labels, real names); reports never read it."""
        return self.data / "private"

    @property
    def manifest(self) -> Path:
        return self.data / "recordings.csv"

    @property
    def audio_dir(self) -> Path:
        """16 kHz mono WAVs extracted by ``cda ingest`` (voices are personal data: git-ignored)."""
        return self.interim / "audio"

    @property
    def audio_index(self) -> Path:
        return self.audio_dir / "index.csv"

    def wav(self, recording_id: str) -> Path:
        return self.audio_dir / f"{recording_id}.wav"

    @property
    def transcribe_dir(self) -> Path:
        """WhisperX output per recording; private because it holds names as spoken."""
        return self.private / "transcribe"

    @property
    def transcribe_index(self) -> Path:
        return self.transcribe_dir / "index.csv"

    def transcript_json(self, recording_id: str) -> Path:
        """The final WhisperX JSON of a recording, read by ``cda import`` like any transcript."""
        return self.transcribe_dir / recording_id / f"{recording_id}.json"

    def diarisation_json(self, recording_id: str) -> Path:
        """The diarise step's speaker turns, which ``cda import`` measures overlap on."""
        return self.transcribe_dir / recording_id / "diarisation.json"

    @property
    def imported_segments(self) -> Path:
        """Imported segments before pseudonymisation: they still carry original speaker labels."""
        return self.private / "import" / "segments.parquet"

    @property
    def imported_words(self) -> Path:
        return self.private / "import" / "words.parquet"

    @property
    def speaker_key(self) -> Path:
        return self.private / "speakers.csv"

    @property
    def names(self) -> Path:
        return self.private / "names.csv"

    @property
    def segments(self) -> Path:
        return self.interim / "segments.parquet"

    @property
    def words(self) -> Path:
        return self.interim / "words.parquet"

    @property
    def corrections(self) -> Path:
        """Transcript corrections from Label Studio (``cda ls pull --transcripts``), applied by
        ``cda pseudonymise``; the imported transcript is never overwritten."""
        return self.interim / "corrections.parquet"

    @property
    def transcript_projects(self) -> Path:
        """Which Label Studio project holds which recording's transcript correction."""
        return self.state_dir / "labelstudio" / "transcripts.json"

    @property
    def replacements(self) -> Path:
        return self.interim / "pseudonymise.csv"

    @property
    def masked_terms(self) -> Path:
        """Every masked term with its counts, for review; private because terms are names."""
        return self.private / "pseudonymise.csv"

    @property
    def sentences(self) -> Path:
        return self.interim / "sentences.parquet"

    @property
    def tokens(self) -> Path:
        return self.interim / "tokens.parquet"

    @property
    def markers(self) -> Path:
        return self.interim / "markers.parquet"

    @property
    def clauses(self) -> Path:
        """Grammar findings read from the tokens (:mod:`pipeline.language.grammar`)."""
        return self.interim / "clauses.parquet"

    def round_dir(self, round_no: int) -> Path:
        return self.processed / f"round-{round_no}"

    def topics(self, round_no: int) -> Path:
        return self.round_dir(round_no) / "topics.parquet"

    def suggestions(self, round_no: int) -> Path:
        return self.round_dir(round_no) / "suggestions.parquet"

    def uncertainty(self, round_no: int) -> Path:
        """How unsure the learned model is per uncoded segment: the order of `ls push --order`."""
        return self.round_dir(round_no) / "uncertainty.parquet"

    def doc_topics(self, round_no: int) -> Path:
        return self.round_dir(round_no) / "doc_topics.parquet"

    def codings(self, round_no: int) -> Path:
        """Human codes pulled from Label Studio (``cda ls pull``)."""
        return self.round_dir(round_no) / "codings.parquet"

    def agreement(self, round_no: int) -> Path:
        return self.round_dir(round_no) / "agreement.parquet"

    def agreement_pairs(self, round_no: int) -> Path:
        return self.round_dir(round_no) / "agreement_pairs.parquet"

    def disagreements(self, round_no: int) -> Path:
        return self.round_dir(round_no) / "disagreements.parquet"

    @property
    def clips_dir(self) -> Path:
        """Segment audio clips for Label Studio tasks (served from data/ by the local server)."""
        return self.interim / "labelstudio" / "clips"

    def ls_state(self, round_no: int) -> Path:
        """Which Label Studio project holds which coder's tasks; rebuilt from titles if lost."""
        return self.state_dir / "labelstudio" / f"round-{round_no}.json"

    # codebooks and reports -------------------------------------------------------------------
    @property
    def codebooks(self) -> Path:
        return self.root / "codebooks"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def report_dir(self, round_no: int) -> Path:
        return self.reports / f"round-{round_no}"

    @property
    def exports(self) -> Path:
        """Files for other tools (``cda export``): pseudonymised, for the team, not the public."""
        return self.root / "exports"

    def resolve_data_path(self, value: str) -> Path:
        """Resolve a path written in the manifest: relative paths are relative to ``data/``."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.data / path

    def display(self, path: Path) -> str:
        """A path as the user should see it: relative to the workspace where possible."""
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)


def local_tool(*parts: str, near: tuple[Path, ...] = ()) -> Path:
    """A program in a project-local environment such as ``.venvs/whisperx/bin/python``.

    Looked up from the current directory, then from each folder in ``near`` (the workspace),
    and upward from each. Why not beside the package: an installed (non-editable) package has
    no checkout to find it in, while ``make`` always runs from the project root. When nothing
    is found, the path under the current directory is returned, for the error message.
    """
    relative = Path(*parts)
    for base in (Path.cwd(), *near):
        start = base.resolve()
        for folder in (start, *start.parents):
            if (folder / relative).exists():
                return folder / relative
    return Path.cwd() / relative
