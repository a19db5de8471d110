"""The README and docs/ stay true: every command, option and make target is documented, every
example names real commands and options, every shell block runs (or says it is illustrative),
and every link resolves.

Conventions this test enforces (write docs to them):

- ``docs/cli.md`` has one heading per ``cda`` command, written ``## `cda ingest` `` (groups'
  subcommands as ``### `cda ls push` ``); every option of the command (each of ``param.opts``,
  e.g. ``--workspace`` and ``-w``) appears in that heading's section, before the next heading.
- A make target that has a ``## `` help comment in the Makefile is documented where the docs
  say ``make TARGET`` (also ``make a b TARGET``), or in the first cell of a table whose header's
  first cell says "make".
- A fenced block whose language is ``bash``, ``sh`` or ``shell`` runs, in a fresh empty folder
  with the repository's ``.venv/bin`` first on PATH, and must exit 0. A block that needs make,
  a server, WhisperX or the network is marked in its fence: ```` ```bash illustrative ````.
  Every fence names a language, so no shell hides in a bare fence.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from pipeline.cli import app
from pipeline.core import registry
from pipeline.core.config import STAGES

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CLI_DOC = ROOT / "docs" / "cli.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
SHELLS = {"bash", "sh", "shell"}
ILLUSTRATIVE = "illustrative"
README_MAX_LINES = 140
# What a runnable block must not do: these need make (which reinstalls .venv), a server,
# WhisperX or the network, so blocks using them are illustrative.
NOT_RUNNABLE = re.compile(
    r"(^|[;&|(]\s*)(make|sbatch)\b|\bcda\s+(transcribe|models|labelstudio\s+start|ls)\b", re.M
)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- the CLI, walked through the Typer app ---------------------------------------------------
def _commands() -> dict[tuple[str, ...], object]:
    """Every command and subcommand of ``cda`` by path; () is ``cda`` itself."""
    found: dict[tuple[str, ...], object] = {}

    def walk(command, path: tuple[str, ...]) -> None:
        found[path] = command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if not getattr(sub, "hidden", False):
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def _options(command) -> list:
    return [
        p for p in command.params if p.param_type_name == "option" and not getattr(p, "hidden", 0)
    ]


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("cda", *path))


# --- markdown --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    flags: tuple[str, ...]
    body: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes a block opened by ``fence`` (same character, at least as long)."""
    return re.fullmatch(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*", line) is not None


def _parse(page: Path) -> tuple[list[Block], str]:
    """The page's fenced blocks, and its text with every block blanked out (line numbers kept),
    so that links, headings and inline code are looked for in the prose only."""
    blocks, prose, lines = [], [], _text(page).splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            prose.append(lines[i])
            i += 1
            continue
        fence, info = opening.group(1), opening.group(2).split()
        start = i + 1
        end = next((j for j in range(start, len(lines)) if _closes(lines[j], fence)), len(lines))
        body = "\n".join(lines[start:end])
        blocks.append(Block(page, start, info[0] if info else "", tuple(info[1:]), body))
        prose += [""] * (end + 1 - i)
        i = end + 1
    return blocks, "\n".join(prose)


def _blocks(page: Path) -> list[Block]:
    return _parse(page)[0]


def _prose(page: Path) -> str:
    return _parse(page)[1]


HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def _sections(page: Path) -> dict[str, str]:
    """Heading text → the text up to the next heading of any level."""
    prose = _prose(page)
    heads = list(HEADING.finditer(prose))
    return {
        h.group(2): prose[h.end() : heads[n + 1].start() if n + 1 < len(heads) else len(prose)]
        for n, h in enumerate(heads)
    }


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.finditer(_prose(page)):
        slug = _slug(heading.group(2))
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _mentions(word: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


# --- the Makefile, parsed at test time -------------------------------------------------------
def _makefiles() -> list[Path]:
    """The Makefile and the files it includes that exist now (a generated include may not)."""
    files = [ROOT / "Makefile"]
    for match in re.finditer(r"^-?include\s+(.+)$", _text(files[0]), re.M):
        for word in match.group(1).split():
            if "$" not in word:
                files += sorted(p for p in ROOT.glob(word) if p.is_file())
    return files


def _help_targets() -> list[str]:
    """Targets with a ``## `` help comment: the ones ``make help`` lists."""
    return [t for path in _makefiles() for t in re.findall(r"^([a-z-]+):.*## ", _text(path), re.M)]


def _rule_targets() -> set[str]:
    found: set[str] = set()
    for path in _makefiles():
        for match in re.finditer(r"^([A-Za-z0-9_.%/$() -]+?)\s*::?(?!=)", _text(path), re.M):
            found.update(match.group(1).split())
    return found


MAKE_CALL = re.compile(r"(?<![\w-])make((?:[ \t]+[a-z][a-z0-9-]*(?![\w=*-]))+)")


def _documented_targets(pages: list[Path]) -> set[str]:
    """Targets named in ``make a b c`` (up to the first VAR=value) in a shell block or in inline
    code, or in the first cell of a table whose header's first cell says "make"."""
    found: set[str] = set()
    for page in pages:
        prose = _prose(page)
        code = [b.body for b in _blocks(page) if b.language in SHELLS]
        code += re.findall(r"`(make [^`]*)`", prose)
        for text in code:
            for match in MAKE_CALL.finditer(text):
                found.update(match.group(1).split())
        for table in re.finditer(r"^\|([^|\n]*)\|.*\n\|[-| :]+\|\n((?:\|.*\n?)*)", prose, re.M):
            if "make" in table.group(1).lower():
                for row in table.group(2).splitlines():
                    found.update(re.findall(r"`([a-z][a-z0-9-]*)`", row.split("|")[1]))
    return found


ALL_TEXT = "\n".join(_text(p) for p in PAGES)


# --- commands and options --------------------------------------------------------------------
def test_every_command_has_a_section_in_the_cli_reference_and_no_section_is_stale() -> None:
    assert CLI_DOC.is_file(), "docs/cli.md (the CLI reference) is missing"
    headed = {}
    for heading in _sections(CLI_DOC):
        match = re.fullmatch(r"`cda((?: [a-z][a-z-]*)*)`", heading)
        if match:
            path = tuple(match.group(1).split())
            assert path not in headed, f"docs/cli.md: two sections for `{_name(path)}`"
            headed[path] = heading
    missing = [_name(p) for p in COMMANDS if p not in headed]
    stale = [_name(p) for p in headed if p not in COMMANDS]
    assert not missing, f"docs/cli.md has no section for {missing}"
    assert not stale, f"docs/cli.md documents commands that do not exist: {stale}"


def test_every_option_is_in_its_commands_section_of_the_cli_reference() -> None:
    assert CLI_DOC.is_file(), "docs/cli.md (the CLI reference) is missing"
    sections = _sections(CLI_DOC)
    missing = []
    for path, command in COMMANDS.items():
        body = sections.get(f"`{_name(path)}`", "")
        for param in _options(command):
            # An on/off option's --no- form is covered by the reference's convention.
            implied = {f"--no-{o[2:]}" for o in param.opts if o.startswith("--")}
            for opt in [*param.opts, *(o for o in param.secondary_opts if o not in implied)]:
                if not _mentions(opt, body):
                    missing.append(f"{_name(path)} {opt}")
    assert not missing, f"docs/cli.md lacks, in the command's section: {missing}"


def test_every_command_appears_in_the_readme_or_docs() -> None:
    missing = [_name(p) for p in COMMANDS if p and f"`{_name(p)}`" not in ALL_TEXT]
    assert not missing, missing


def _invocations() -> list[tuple[str, list[str]]]:
    """Every ``cda …`` written in the docs: shell lines and inline code, as tokens."""
    found = []
    for page in PAGES:
        for block in _blocks(page):
            if block.language not in SHELLS:
                continue
            lines, heredoc = block.body.replace("\\\n", " ").splitlines(), None
            for n, line in enumerate(lines):
                if heredoc is not None:
                    heredoc = None if line.strip() == heredoc else heredoc
                    continue
                here = re.search(r"<<-?\s*['\"]?(\w+)", line)
                heredoc = here.group(1) if here else None
                tokens = shlex.split(line, comments=True)
                command: list[str] = []
                for token in [*tokens, ";"]:
                    if token in {";", "&&", "||", "|", "&"}:
                        if command and command[0] == "cda":
                            found.append((f"{block.page.name}:{block.line + n}", command))
                        command = []
                    else:
                        command.append(token)
        for span in re.findall(r"`(cda(?: [^`]*)?)`", _prose(page)):
            tokens = [t.strip("[]…,") for t in span.split()]
            found.append((f"{page.name}: `{' '.join(span.split())}`", [t for t in tokens if t]))
    return found


def test_every_cda_example_names_real_commands_and_options() -> None:
    wrong = []
    for where, tokens in _invocations():
        path: tuple[str, ...] = ()
        rest = tokens[1:]
        while rest and (*path, rest[0]) in COMMANDS:
            path, rest = (*path, rest[0]), rest[1:]
        command = COMMANDS[path]
        known = {"--help"} | {o for p in _options(command) for o in p.opts + p.secondary_opts}
        for token in rest:
            name = token.split("=", 1)[0]
            if re.fullmatch(r"--?[A-Za-z][\w-]*", name) and name not in known:
                wrong.append(f"{where}: {_name(path)} has no option {name}")
    assert _invocations() and not wrong, wrong


# --- make targets ----------------------------------------------------------------------------
def test_every_make_target_with_help_is_documented() -> None:
    targets = _help_targets()
    documented = _documented_targets(PAGES)
    missing = [t for t in targets if t not in documented]
    assert targets and not missing, f"make targets not in README or docs: {missing}"


def test_every_documented_make_target_exists() -> None:
    rules = _rule_targets()
    stale = sorted(_documented_targets(PAGES) - rules)
    assert not stale, f"the docs name make targets the Makefile lacks: {stale}"


# --- the README ------------------------------------------------------------------------------
def test_readme_opens_with_one_sentence_then_the_two_commands() -> None:
    body = _text(README).split("\n", 1)[1]
    commands = re.findall(r"^make \w+", body, flags=re.MULTILINE)
    assert commands[:2] == ["make demo", "make test"]


def test_readme_is_short() -> None:
    lines = len(_text(README).splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"


def _stage_table() -> list[list[str]]:
    match = re.search(
        r"^\| make target \| CLI command \| package \|.*\n\|[-| ]+\|\n((?:\|.*\n)+)",
        _text(README),
        re.M,
    )
    assert match, "README.md has no stage table (| make target | CLI command | package | …)"
    return [[c.strip() for c in row.strip("|").split("|")] for row in match.group(1).splitlines()]


def test_stage_table_rows_name_real_targets_commands_and_packages() -> None:
    rules = _rule_targets()
    rows = _stage_table()
    wrong = []
    for targets, commands, package, *_ in rows:
        for target in re.findall(r"`([^`]+)`", targets):
            if target not in rules:
                wrong.append(f"make target {target}")
        for command in re.findall(r"`cda ([^`]+)`", commands):
            if tuple(command.split()) not in COMMANDS:
                wrong.append(f"command cda {command}")
        for name in re.findall(r"`([^`]+)`", package):
            if not (ROOT / "pipeline" / name / "__init__.py").is_file():
                wrong.append(f"package pipeline/{name}/")
    assert rows and not wrong, f"the README's stage table names what does not exist: {wrong}"


def test_every_stage_has_a_row_in_the_stage_table() -> None:
    """Rows come from the stage registry: its make target, its command and its package."""
    rows = _stage_table()
    wrong = []
    for stage in registry.STAGES:
        row = next((r for r in rows if stage.name in re.findall(r"`([^`]+)`", r[0])), None)
        if row is None:
            wrong.append(f"{stage.name}: no row")
            continue
        if f"`cda {stage.command}" not in row[1]:
            wrong.append(f"{stage.name}: command is `cda {stage.command}`, row says {row[1]}")
        if row[2] != f"`{stage.package.removeprefix('pipeline.')}`":
            wrong.append(f"{stage.name}: package is {stage.package}, row says {row[2]}")
    missing = [s for s in STAGES if (s,) not in COMMANDS]
    assert not wrong and not missing, wrong + missing


# --- links -----------------------------------------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def test_readme_links_to_every_doc() -> None:
    targets = set(LINK.findall(_prose(README)))
    missing = [d.name for d in DOCS if f"docs/{d.name}" not in targets]
    assert DOCS, "docs/ has no pages"
    assert not missing, f"README.md does not link to {missing}"


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(_prose(page)):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists() or ROOT not in path.parents:
                broken.append(f"{page.name}: {target}")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


REPO_PATH = re.compile(
    r"`((?:pipeline|tests|benchmarks|notebooks|requirements|docs|\.ci)/[^`\s]*)`"
)


def test_every_repository_path_in_the_docs_exists() -> None:
    """Paths such as `pipeline/transcribe/worker.py` are checked; placeholders (`<language>`)
    are not."""
    stale = [
        f"{page.name}: {path}"
        for page in PAGES
        for path in REPO_PATH.findall(_prose(page))
        if not re.search(r"[<*]", path) and not (ROOT / path.rstrip("/")).exists()
    ]
    assert not stale, f"the docs name files that do not exist: {stale}"


# --- shell blocks ----------------------------------------------------------------------------
BLOCKS = [b for page in PAGES for b in _blocks(page)]
RUNNABLE = [b for b in BLOCKS if b.language in SHELLS and ILLUSTRATIVE not in b.flags]


def test_every_fence_names_its_language_and_only_known_flags() -> None:
    bare = [str(b) for b in BLOCKS if not b.language]
    odd = [f"{b}: {b.flags}" for b in BLOCKS if set(b.flags) - {ILLUSTRATIVE}]
    assert not bare, f"fences without a language: {bare}"
    assert not odd, f"unknown fence flags (only '{ILLUSTRATIVE}'): {odd}"


def test_runnable_blocks_need_no_make_server_or_network() -> None:
    heavy = [str(b) for b in RUNNABLE if NOT_RUNNABLE.search(b.body)]
    assert not heavy, f"mark these blocks ```bash {ILLUSTRATIVE}: {heavy}"


@pytest.mark.slow  # each block starts cda in a fresh folder
@pytest.mark.parametrize("block", RUNNABLE, ids=str)
def test_shell_block_runs(block: Block, tmp_path: Path) -> None:
    if NOT_RUNNABLE.search(block.body):
        pytest.fail(f"{block} needs make, a server or the network: mark it ```bash {ILLUSTRATIVE}")
    bins = [ROOT / ".venv" / "bin", Path(sys.executable).parent]
    env = {
        **os.environ,
        "PATH": os.pathsep.join([*map(str, bins), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.body],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{block} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
