"""The stage registry: each stage's name, command, package, settings, inputs and outputs.

One declaration feeds everything that must agree about the pipeline's shape, so none of it
can drift from the code:

- the make rules (``python3 -m pipeline.core.registry make`` writes ``build/stages.mk``):
  prerequisites are the declared inputs, the stage's settings snapshot, and every file of the
  stage's *import closure* (found by reading the imports, so a new import is never forgotten)
  with the package data those modules read;
- ``cda config sync`` (one settings snapshot per stage);
- ``cda run`` (skip a stage whose inputs, code and settings are unchanged, weasel-style);
- the report's provenance and the README's stage table (checked by a test).

Only the standard library is used: make runs this with the system ``python3`` before the
project's environment exists. Paths are relative to the workspace; ``{round}`` stands for
the coding round.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the pipeline package itself (not a checkout)

# Media that `cda ingest` extracts audio from (the list pipeline.ingest uses).
MEDIA_SUFFIXES = frozenset(
    (".aac", ".avi", ".flac", ".m4a", ".m4v", ".mkv", ".mov", ".mp3", ".mp4", ".mts", ".ogg",
     ".opus", ".wav", ".webm", ".wma")
)  # fmt: skip


# Transcript files `cda import` reads from data/raw (the suffixes pipeline.importers parses).
TRANSCRIPT_SUFFIXES = frozenset((".docx", ".json", ".jsonl", ".ndjson", ".srt", ".txt", ".vtt"))


def _raw(suffixes: frozenset[str]) -> tuple[Input, ...]:
    """Optional inputs ``data/raw/*<suffix>`` in both cases (make's globs are case-sensitive)."""
    return tuple(
        Input(f"data/raw/*{x}", optional=True) for s in sorted(suffixes) for x in (s, s.upper())
    )


@dataclass(frozen=True)
class Input:
    """A file a stage reads. ``optional``: used when present. ``later_rounds``: round 2 on."""

    path: str
    optional: bool = False
    later_rounds: bool = False


@dataclass(frozen=True)
class Stage:
    """One make word = one ``cda`` command = one package.

    ``always``: the stage talks to a server or writes exports on request, so make runs it
    every time (its state is not a file). ``sections``: the cda.yaml sections it reads, on
    top of the study-level fields every stage gets.
    """

    name: str
    command: str
    package: str
    summary: str
    inputs: tuple[Input, ...] = ()
    outputs: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    per_round: bool = False
    always: bool = False
    extra_modules: tuple[str, ...] = field(default=())
    # inputs whose path is a setting, as (section, field): `nlp.markers`
    config_inputs: tuple[tuple[str, str], ...] = ()

    @property
    def cli_module(self) -> str:
        """The CLI module of the stage's command (pipeline/cli/<package word>.py)."""
        return "pipeline.cli." + self.package.rsplit(".", 1)[1]

    def files(self, kind: str, round_no: int | None = None) -> list[str]:
        """Declared paths with ``{round}`` filled in (inputs of later rounds only from 2 on)."""
        if kind == "outputs":
            paths = list(self.outputs)
        else:
            paths = [
                i.path
                for i in self.inputs
                if not (i.later_rounds and round_no is not None and round_no < 2)
            ]
        return [p.format(round=round_no) if round_no is not None else p for p in paths]


def _i(path: str, **kw: bool) -> Input:
    return Input(path, **kw)


ROUND = "data/processed/round-{round}"
CODEBOOK = "codebooks/*/round-{round}.yaml"

STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        "ingest",
        "pipeline.ingest",
        "Extract 16 kHz audio of the recordings in data/recordings.csv",
        inputs=(
            _i("data/recordings.csv"),
            *_raw(MEDIA_SUFFIXES),
        ),
        outputs=("data/interim/audio/index.csv",),
    ),
    Stage(
        "transcribe",
        "transcribe",
        "pipeline.transcribe",
        "Transcribe, align and diarise recordings with WhisperX (JOBS=n)",
        inputs=(
            _i("data/recordings.csv"),
            _i("data/interim/audio/index.csv"),
            _i("data/raw/*.rttm", optional=True),
            # step records: a SLURM array writes them, `make transcribe` then collects
            _i("data/private/transcribe/*/steps.json", optional=True),
        ),
        outputs=("data/private/transcribe/index.csv",),
        sections=("transcribe",),
    ),
    Stage(
        "import",
        "import",
        "pipeline.importers",
        "Import transcripts (and WhisperX output) into segments",
        inputs=(
            _i("data/recordings.csv"),
            *_raw(TRANSCRIPT_SUFFIXES),
            _i("data/private/transcribe/index.csv"),
            _i("data/private/transcribe/*/*.json", optional=True),
        ),
        outputs=("data/private/import/segments.parquet", "data/private/import/words.parquet"),
        sections=("import",),
    ),
    Stage(
        "pseudonymise",
        "pseudonymise",
        "pipeline.pseudonymise",
        "Pseudonymise speakers and mask listed names",
        inputs=(
            _i("data/recordings.csv"),
            _i("data/private/import/segments.parquet"),
            _i("data/private/import/words.parquet"),
            _i("data/private/names.csv", optional=True),
            # the key: analysts add real names to it by hand (the stage also writes it)
            _i("data/private/speakers.csv", optional=True),
            # transcript corrections pulled from Label Studio (cda ls pull --transcripts)
            _i("data/interim/corrections.parquet", optional=True),
        ),
        outputs=(
            "data/interim/segments.parquet",
            "data/interim/words.parquet",
            "data/interim/pseudonymise.csv",
        ),
        sections=("pseudonymise",),
    ),
    Stage(
        "nlp",
        "nlp",
        "pipeline.nlp",
        "Sentences, tokens, lemmas and discourse markers with spaCy",
        inputs=(_i("data/interim/segments.parquet"),),
        config_inputs=(("nlp", "markers"),),
        outputs=(
            "data/interim/sentences.parquet",
            "data/interim/tokens.parquet",
            "data/interim/markers.parquet",
            "data/interim/clauses.parquet",
            "data/interim/nlp.json",
        ),
        sections=("nlp",),
    ),
    Stage(
        "topics",
        "topics",
        "pipeline.topics",
        "BERTopic topics: round 1 candidates, later rounds guided by the codebook",
        inputs=(
            _i("data/interim/segments.parquet"),
            _i("data/interim/tokens.parquet"),
            _i(CODEBOOK, later_rounds=True),
        ),
        # topics.json: which embedding ran (the report's provenance)
        outputs=(f"{ROUND}/topics.parquet", f"{ROUND}/doc_topics.parquet", f"{ROUND}/topics.json"),
        sections=("topics",),
        per_round=True,
    ),
    Stage(
        "suggest",
        "suggest",
        "pipeline.suggest",
        "Code suggestions per segment from the ROUND's codebook",
        inputs=(
            _i("data/interim/segments.parquet"),
            _i("data/interim/tokens.parquet"),
            _i(CODEBOOK),
            _i(f"{ROUND}/topics.parquet", later_rounds=True),
            _i(f"{ROUND}/doc_topics.parquet", later_rounds=True),
            # human codes train the learned suggestions: this round's and, through
            # `replaces`, the previous round's (and its codebook)
            _i("data/processed/round-*/codings.parquet", optional=True),
            _i("codebooks/*/round-*[0-9].yaml", optional=True),
        ),
        outputs=(
            f"{ROUND}/suggestions.parquet",
            f"{ROUND}/suggest.json",
            f"{ROUND}/uncertainty.parquet",
        ),
        sections=("suggest",),
        per_round=True,
    ),
    Stage(
        "agreement",
        "agreement",
        "pipeline.agreement",
        "Inter-coder agreement of ROUND (after make ls-pull)",
        inputs=(_i(f"{ROUND}/codings.parquet"), _i(CODEBOOK)),
        outputs=(
            f"{ROUND}/agreement.parquet",
            f"{ROUND}/agreement_pairs.parquet",
            f"{ROUND}/disagreements.parquet",
        ),
        per_round=True,
    ),
    Stage(
        "report",
        "report",
        "pipeline.report",
        "HTML report for ROUND",
        inputs=(
            _i("data/interim/segments.parquet"),
            _i("data/interim/tokens.parquet"),
            _i("data/interim/markers.parquet"),
            _i("data/interim/nlp.json"),
            _i("data/interim/pseudonymise.csv"),
            _i(f"{ROUND}/topics.parquet"),
            _i(f"{ROUND}/doc_topics.parquet"),
            # every round's codebook: the report lists what changed since the previous one
            _i("codebooks/*/round-*[0-9].yaml", optional=True),
            _i(f"{ROUND}/topics.json", optional=True),
            _i(f"{ROUND}/suggestions.parquet", optional=True),
            _i(f"{ROUND}/suggest.json", optional=True),
            _i(f"{ROUND}/codings.parquet", optional=True),
            _i(f"{ROUND}/agreement.parquet", optional=True),
            _i(f"{ROUND}/agreement_pairs.parquet", optional=True),
            _i(f"{ROUND}/llm.json", optional=True),
            # which model transcribed and which method diarised each recording
            _i("data/private/transcribe/index.csv", optional=True),
            _i("data/interim/corrections.parquet", optional=True),
        ),
        # themes.csv, themes.json and framing.csv only when the round has a codebook
        outputs=("reports/round-{round}/index.html",),
        # its provenance shows the settings of every stage behind make
        sections=("transcribe", "import", "pseudonymise", "nlp", "topics", "suggest", "report"),
        per_round=True,
    ),
    Stage(
        "ls-push",
        "ls push",
        "pipeline.labelstudio",
        "Push ROUND's segments and suggestions to Label Studio (one project per coder)",
        inputs=(
            _i("data/interim/segments.parquet"),
            _i(CODEBOOK),
            _i(f"{ROUND}/suggestions.parquet", optional=True),
            _i(f"{ROUND}/uncertainty.parquet", optional=True),
        ),
        sections=("labelstudio",),
        per_round=True,
        always=True,
    ),
    Stage(
        "code",
        "code",
        "pipeline.code",
        "An LLM codes ROUND's participant segments as a machine coder (cda code --llm)",
        inputs=(_i("data/interim/segments.parquet"), _i(CODEBOOK)),
        # its codes go into codings.parquet as coder llm:<model>, beside the pulled ones
        outputs=(f"{ROUND}/llm.json",),
        sections=("llm",),
        per_round=True,
        always=True,
    ),
    Stage(
        "ls-pull",
        "ls pull",
        "pipeline.labelstudio",
        "Pull ROUND's codes from Label Studio into codings.parquet",
        outputs=(f"{ROUND}/codings.parquet",),
        sections=("labelstudio",),
        per_round=True,
        always=True,
    ),
    Stage(
        "adjudicate",
        "ls adjudicate",
        "pipeline.labelstudio",
        "Push ROUND's disagreements into an adjudication project",
        inputs=(_i(f"{ROUND}/codings.parquet"), _i(f"{ROUND}/disagreements.parquet")),
        sections=("labelstudio",),
        per_round=True,
        always=True,
    ),
    Stage(
        "export",
        "export",
        "pipeline.export",
        "Write ROUND's exports to exports/: CSV, XLSX, SRT/VTT, REFI-QDA .qdc and .qdpx",
        inputs=(_i("data/interim/segments.parquet"), _i(CODEBOOK, optional=True)),
        sections=("export",),
        per_round=True,
        always=True,
    ),
)

# The stages behind make (`cda run` runs them), in pipeline order.
RUN_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES if not s.always)

# Package data read by a module: part of the code of every stage whose closure holds it.
RESOURCES: dict[str, tuple[str, ...]] = {
    "pipeline.language.markers": ("resources/markers.*.yaml",),
    "pipeline.language.lexicon": ("resources/not_names.*.txt",),
    "pipeline.language.spoken": ("resources/stopwords_*_spoken.txt",),
    "pipeline.report": ("report/templates/*",),
}


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(name)


def existing_inputs(root: Path, stage_: Stage, round_no: int | None) -> list[Path]:
    """The declared inputs of a stage that exist under a workspace root, globs expanded."""
    found: set[Path] = set()
    for pattern in stage_.files("inputs", round_no):
        found.update(p for p in root.glob(pattern) if p.is_file())
    return sorted(found)


def producers() -> dict[str, str]:
    """Declared output path → the stage that writes it."""
    return {out: s.name for s in STAGES for out in s.outputs}


def builders(name: str) -> set[str]:
    """The goals whose call builds stage ``name``: itself and every stage that needs it."""
    writers = producers()
    found = {name}
    grown = True
    while grown:
        grown = False
        for s in STAGES:
            if s.name not in found and any(
                writers.get(i.path) in found for i in s.inputs if not i.optional
            ):
                found.add(s.name)
                grown = True
    return found


# import closure ----------------------------------------------------------------------------


def module_file(module: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """The source file of a ``pipeline.*`` module (package → its ``__init__.py``)."""
    parts = module.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


_IMPORTS: dict[tuple[Path, int], frozenset[str]] = {}


def imports_of(path: Path, module: str) -> frozenset[str]:
    """Every ``pipeline.*`` module imported anywhere in a file (function-level imports too)."""
    key = (path, path.stat().st_mtime_ns)
    if key not in _IMPORTS:
        _IMPORTS[key] = frozenset(_parse_imports(path, module))
    return _IMPORTS[key]


def _parse_imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pipeline")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name.split(".")[0] != "pipeline":
                continue
            # `from pipeline.x import y`: y a submodule, or a name defined in pipeline.x
            for alias in node.names:
                sub = f"{name}.{alias.name}"
                found.add(sub if module_file(sub) is not None else name)
    return found


def _walk_parents(module: str) -> Iterator[str]:
    parts = module.split(".")
    for n in range(2, len(parts)):
        yield ".".join(parts[:n])


def closure(package: str, root: Path = PACKAGE_ROOT) -> set[str]:
    """The modules a stage runs: its package's modules and everything they import, transitively.

    A module's parent packages count too (importing ``pipeline.core.io`` runs
    ``pipeline/core/__init__.py``).
    """
    start = {package}
    pkg_dir = root.joinpath(*package.split(".")[1:])
    if pkg_dir.is_dir():
        start |= {
            ".".join(["pipeline", *p.relative_to(root).with_suffix("").parts]).removesuffix(
                ".__init__"
            )
            for p in pkg_dir.rglob("*.py")
        }
    seen: set[str] = set()
    todo = sorted(start | {"pipeline"})
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module, root)
        if path is None:
            continue  # a name imported from a module, not a module
        seen.add(module)
        todo.extend(imports_of(path, module) | set(_walk_parents(module)))
    return seen


def code_files(stage_: Stage, root: Path = PACKAGE_ROOT) -> list[Path]:
    """Source files and package data a stage depends on, sorted."""
    modules = closure(stage_.package, root)
    for extra in stage_.extra_modules:
        modules |= closure(extra, root)
    files = {module_file(m, root) for m in modules}
    # the command make calls: its module and the shared CLI code, not the CLI's closure
    # (pipeline/cli/__init__ imports every command)
    files |= {
        module_file(m, root) for m in (stage_.cli_module, "pipeline.cli._util", "pipeline.cli.run")
    }
    for module in modules:
        for pattern in RESOURCES.get(module, ()):
            files.update(p for p in root.glob(pattern) if p.is_file())
    return sorted(f for f in files if f is not None)


# make rules ------------------------------------------------------------------------------


# Characters make reads as syntax in a prerequisite list expanded a second time (after all
# files are read, as the generated rules read the raw and settings-named files): a backslash
# makes them literal. ':' and ';' need none there, and would keep theirs.
_MAKE_ESCAPED = frozenset(" \t#|")
# Characters no prerequisite can hold (after the rules' second expansion): such a file makes
# its stage always run, and `cda run` then skips the work when the contents did not change.
_MAKE_UNSAFE = frozenset("\n\r$\\")


def make_escape(path: str) -> str | None:
    """``path`` as one word of a make prerequisite list, or None where make cannot name it.

    make splits prerequisites at spaces and reads ``#`` and ``|`` as syntax, so a recording
    called "Workshop 1.mp4" broke every target (issue 17). Escaped, it is one file. Only for
    words of a ``$$(VAR)`` prerequisite, which the rules expand a second time.
    """
    if any(ch in _MAKE_UNSAFE for ch in path):
        return None
    return "".join("\\" + ch if ch in _MAKE_ESCAPED else ch for ch in path)


def make_words(paths: Iterable[str], *, prefix: str = "") -> str:
    """Prerequisite words for these files, each escaped (after ``prefix``, e.g. ``$(WS)/``),
    or FORCE where make cannot name one."""
    words = [prefix + word if (word := make_escape(p)) is not None else "FORCE" for p in paths]
    return " ".join(dict.fromkeys(words))


def raw_globs(stage_: Stage) -> list[str]:
    """The stage's inputs in ``data/raw``: the files people name, so any name can occur."""
    return [i.path for i in stage_.inputs if i.path.startswith("data/raw/") and "*" in i.path]


def raw_make(ws_root: Path) -> str:
    """The include listing each stage's raw inputs as they are now, escaped for make.

    make's ``$(wildcard)`` returns names split at spaces, so the generated rules read these
    lists instead; the Makefile rewrites the file whenever ``data/raw`` gains or loses a file.
    """
    lines = ["# Generated by `python3 -m pipeline.core.registry raw WS`: do not edit."]
    for s in STAGES:
        globs = raw_globs(s)
        if not globs:
            continue
        files = sorted({p.relative_to(ws_root).as_posix() for g in globs for p in ws_root.glob(g)})
        lines.append(f"{make_var(s.name)}_RAW := {make_words(files, prefix='$(WS)/')}")
    return "\n".join(lines) + "\n"


def make_var(name: str) -> str:
    """The make variable prefix of a stage: ``ls-push`` → ``LS_PUSH``."""
    return name.upper().replace("-", "_")


def _input_text(inp: Input, produced: dict[str, str]) -> str:
    """One prerequisite: a glob or optional file only where it exists when make starts, unless
    the stage that writes it is a goal of this very make call (``make suggest report``)."""
    path = f"$(WS)/{inp.path.replace('{round}', '$(ROUND)')}"
    if inp.path.startswith("data/raw/") and "*" in inp.path:
        return ""  # listed in the stage's _RAW variable (raw_make): names may hold spaces
    if "*" in inp.path:
        text = f"$(wildcard {path})"
    elif inp.optional:
        writer = produced.get(inp.path)
        goals = " ".join(sorted(builders(writer))) if writer else ""
        text = (
            f"$(if $(filter {goals},$(MAKECMDGOALS)),{path},$(wildcard {path}))"
            if writer
            else f"$(wildcard {path})"
        )
    else:
        text = path
    if inp.later_rounds:
        text = f"$(if $(filter-out 1,$(ROUND)),{text})"
    return text


def make_rules(root: Path = PACKAGE_ROOT, prefix: str = "pipeline") -> str:
    """The generated include: per stage its code files, outputs and rule."""
    produced = producers()
    lines = [
        "# Generated from pipeline/core/registry.py by `python3 -m pipeline.core.registry make`:",
        "# do not edit. Each stage's prerequisites: its declared inputs, its settings snapshot",
        "# and the files of its import closure (with the package data they read).",
        "",
        "RUN_STAGES := " + " ".join(RUN_STAGES),
        "# `make -B` reruns for real: cda run would otherwise skip unchanged work",
        "FORCE_FLAG := $(if $(findstring B,$(firstword -$(MAKEFLAGS))), --force)",
        ".SECONDEXPANSION:",
        ".PHONY: FORCE",
        "FORCE:",
        "",
    ]
    for s in STAGES:
        var = make_var(s.name)
        files = [f"{prefix}/{p.relative_to(root).as_posix()}" for p in code_files(s, root)]
        lines.append(f"{var}_CODE := " + " \\\n  ".join(files))
        ins = [text for i in s.inputs if (text := _input_text(i, produced))]
        if raw_globs(s):  # defined in raw.mk, included after this file: expanded later too
            ins.append(f"$$({var}_RAW)")
        if s.config_inputs:
            # paths named in cda.yaml: `cda config sync` defines the variable in .synced,
            # included after this file, so it is expanded a second time, after all reading
            ins.append(f"$$({var}_CONFIG_INPUTS)")
        if s.always:  # run on every call: the Makefile writes its rule, on these inputs
            lines += [f"{var}_IN := {' '.join(ins)}", ""]
            continue
        outs = " ".join(f"$(WS)/{o.replace('{round}', '$(ROUND)')}" for o in s.outputs)
        round_arg = " --round $(ROUND)" if s.per_round else ""
        jobs = " --jobs $(JOBS)" if s.name == "transcribe" else ""
        # The first output is the rule's target; the others follow it with an empty recipe
        # (cda run touches them after it). Not a grouped target (&:): GNU make 4.3 does not
        # pass "would be remade" on from one under -n, so `make -n` would hide dependents.
        lines += [
            f"{var}_OUT := {outs}",
            # an output gone (deleted by hand) makes the stage run again
            f"$(firstword $({var}_OUT)): {' '.join(ins)} $(CFG)/{s.name}.json $({var}_CODE) "
            f"$(if $(filter-out $(wildcard $({var}_OUT)),$({var}_OUT)),FORCE) | $(SETUP)",
            f"\t$(CDA) run {s.name} --workspace $(WS){round_arg}{jobs}$(FORCE_FLAG)",
        ]
        if len(s.outputs) > 1:
            lines.append(f"$(wordlist 2,99,$({var}_OUT)): $(firstword $({var}_OUT)) ;")
        lines += [f"{s.name}: $({var}_OUT)", ""]
    return "\n".join(lines) + "\n"


def main(argv: Iterable[str]) -> int:
    args = list(argv)
    if args[:1] == ["make"]:
        sys.stdout.write(make_rules())
        return 0
    if args[:1] == ["raw"] and len(args) == 2:
        sys.stdout.write(raw_make(Path(args[1])))
        return 0
    if args[:1] == ["code"] and len(args) == 2:
        sys.stdout.write("\n".join(str(p) for p in code_files(stage(args[1]))) + "\n")
        return 0
    sys.stderr.write("usage: python3 -m pipeline.core.registry make | raw WS | code STAGE\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
