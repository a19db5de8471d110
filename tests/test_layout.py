"""The package's shape: stages import only the shared packages, nothing forms a cycle, and the
stage registry agrees with the code it describes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core import registry
from pipeline.core.paths import Workspace

PKG = registry.PACKAGE_ROOT
STAGE_PACKAGES = sorted({s.package for s in registry.STAGES})
# shared packages and what each may import (besides itself)
SHARED = {
    "pipeline.core": set(),
    "pipeline.language": {"pipeline.core"},
    "pipeline.codebook": {"pipeline.core"},
    "pipeline.codings": {"pipeline.core", "pipeline.codebook"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PKG.rglob("*.py"):
        parts = ["pipeline", *path.relative_to(PKG).with_suffix("").parts]
        found[".".join(parts).removesuffix(".__init__")] = path
    return found


def owner(module: str) -> str:
    """The top-level part of pipeline a module belongs to (pipeline.report.themes → report)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def imported(module: str, path: Path) -> set[str]:
    """pipeline modules (not names) a module imports, at any level of the file."""
    mods = modules()
    result = set()
    for name in registry.imports_of(path, module):
        while name not in mods and "." in name:
            name = name.rpartition(".")[0]
        if name in mods and name != module:
            result.add(name)
    return result


def test_the_stages_are_packages_of_their_own() -> None:
    assert (
        sorted(
            f"pipeline.{n}"
            for n in (
                "ingest",
                "transcribe",
                "importers",
                "pseudonymise",
                "nlp",
                "topics",
                "suggest",
                "code",
                "labelstudio",
                "agreement",
                "report",
                "export",
            )
        )
        == STAGE_PACKAGES
    )
    for package in STAGE_PACKAGES:
        assert (PKG / package.split(".")[1] / "__init__.py").is_file(), package


def test_stages_import_only_shared_packages_and_themselves() -> None:
    """A stage never reaches into another stage: what two stages share lives in core,
    language, codebook or codings."""
    wrong = []
    for module, path in sorted(modules().items()):
        home = owner(module)
        if home in STAGE_PACKAGES:
            allowed = {home, *SHARED, "pipeline"}
        elif home in SHARED:
            allowed = {home, *SHARED[home], "pipeline"}
        else:
            continue  # the CLI wires everything; pipeline/__init__ and __main__
        for dep in sorted(imported(module, path)):
            if owner(dep) not in allowed:
                wrong.append(f"{module} imports {dep}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    """Function-level imports count: a lazy import is how a cycle used to hide."""
    mods = modules()
    graph = {m: imported(m, p) for m, p in mods.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(" → ".join([*trail[trail.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_no_library_module_finds_files_through_the_checkout() -> None:
    offenders = [
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if "parents[1]" in p.read_text(encoding="utf-8") and p.name != "registry.py"
    ]
    assert not offenders


@pytest.mark.slow  # one interpreter per stage
@pytest.mark.parametrize("package", STAGE_PACKAGES)
def test_the_closure_holds_every_module_a_stage_imports(package: str) -> None:
    """What Python really loads when a stage is imported is inside the closure make uses."""
    code = (
        "import json, sys, importlib; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'pipeline')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, package], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(proc.stdout))
    assert loaded - registry.closure(package) == set()


def test_every_package_data_file_is_claimed_by_a_module() -> None:
    claimed = {p for globs in registry.RESOURCES.values() for g in globs for p in PKG.glob(g)}
    data = {
        p
        for folder in ("resources", "report/templates")
        for p in (PKG / folder).rglob("*")
        if p.is_file() and "sample" not in p.relative_to(PKG).parts
    }
    assert data - claimed == set()
    for module, globs in registry.RESOURCES.items():
        text = registry.module_file(module).read_text(encoding="utf-8")
        for pattern in globs:  # the module names the files it reads
            stem = Path(pattern).name.split("*")[0].rstrip(".")
            assert stem in text or Path(pattern).parent.name in text, (module, pattern)


def test_declared_paths_are_the_workspace_paths(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    actual = {
        ws.audio_index,
        ws.transcribe_index,
        ws.imported_segments,
        ws.imported_words,
        ws.segments,
        ws.words,
        ws.replacements,
        ws.sentences,
        ws.tokens,
        ws.markers,
        ws.clauses,
        ws.interim / "nlp.json",
        ws.topics(3),
        ws.doc_topics(3),
        ws.round_dir(3) / "topics.json",
        ws.suggestions(3),
        ws.round_dir(3) / "suggest.json",
        ws.uncertainty(3),
        ws.codings(3),
        ws.round_dir(3) / "llm.json",
        ws.agreement(3),
        ws.agreement_pairs(3),
        ws.disagreements(3),
        ws.report_dir(3) / "index.html",  # themes.* and framing.csv only with a codebook
    }
    declared = {ws.root / p for s in registry.STAGES for p in s.files("outputs", 3)}
    assert declared == actual


def test_media_suffixes_agree_with_ingest() -> None:
    from pipeline.ingest import MEDIA_SUFFIXES

    assert set(registry.MEDIA_SUFFIXES) == set(MEDIA_SUFFIXES)


def test_transcript_suffixes_agree_with_the_importers() -> None:
    from pipeline.importers import _SUFFIXES

    assert set(registry.TRANSCRIPT_SUFFIXES) == set(_SUFFIXES)


def test_every_stage_command_exists() -> None:
    import typer.main

    from pipeline.cli import app

    root = typer.main.get_command(app)
    for stage in registry.STAGES:
        command = root
        for word in stage.command.split():
            assert word in command.commands, stage.command
            command = command.commands[word]


def test_the_generated_rules_name_every_stage_and_its_code() -> None:
    text = registry.make_rules()
    for stage in registry.STAGES:
        var = stage.name.upper().replace("-", "_")
        assert f"{var}_CODE :=" in text
        if not stage.always:
            assert f"\t$(CDA) run {stage.name} --workspace $(WS)" in text
            assert f"{stage.name}: $({var}_OUT)" in text
    nlp = registry.code_files(registry.stage("nlp"))
    assert PKG / "language" / "markers.py" in nlp
    assert PKG / "resources" / "markers.nl.yaml" in nlp
    assert PKG / "report" / "framing.py" not in nlp
