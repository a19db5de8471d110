"""Codebooks: one reviewable YAML file per coding round, validated, diffed and frozen when closed.

A study's codebooks live in ``codebooks/<study>/round-<N>.yaml``. Round 1 codes openly (seeded
by topic candidates or a starter); later rounds are ``based_on`` the previous one, and a code
that merges or renames earlier codes says so in ``replaces``, which is what lets
:func:`diff` tell renamed, merged and split codes apart instead of "removed + added".

Every error names the file, the line and the field. A round's ``state`` moves
``open`` → ``coding`` → ``closed``; closing records the file's hash in
``codebooks/<study>/closed.json`` and from then on nothing may change that round.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.core import yamlfile
from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import write_text
from pipeline.core.paths import Workspace

State = Literal["open", "coding", "closed"]
SLUG = r"^[a-z0-9][a-z0-9-]*$"
# ``based_on`` names a sibling round file, never a path: it is resolved in the study's folder.
ROUND_FILE = re.compile(r"round-[1-9][0-9]*\.yaml")
SHA256 = re.compile(r"[0-9a-f]{64}")
ROUND_NO = re.compile(r"[1-9][0-9]*")


class ResearchQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)


class Code(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=SLUG, description="stable slug, unique in the file")
    label: str = Field(min_length=1)
    description: str
    include: str | None = None
    exclude: str | None = None
    parent: str | None = None
    research_questions: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    patterns: list[list[dict[str, Any]]] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    replaces: list[str] = Field(default_factory=list)
    segments: list[str] = Field(
        default_factory=list, description="representative segment ids (topic candidates)"
    )

    @field_validator("description")
    @classmethod
    def _described(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty description: say what the code means, for other coders")
        return value


class Codebook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    study: str
    round: int = Field(ge=1)
    language: str = "nl"
    state: State = "open"
    based_on: str | None = None
    research_questions: list[ResearchQuestion] = Field(default_factory=list)
    codes: list[Code] = Field(default_factory=list)

    @field_validator("based_on")
    @classmethod
    def _a_round_file(cls, value: str | None) -> str | None:
        if value is not None and not ROUND_FILE.fullmatch(value):
            raise ValueError(
                f"'{value}' is not a round file name: based_on names an earlier round of "
                "this folder, such as round-1.yaml (no folders, no absolute paths)"
            )
        return value

    def code(self, code_id: str) -> Code | None:
        return next((c for c in self.codes if c.id == code_id), None)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.codes]


@dataclass(frozen=True)
class Loaded:
    """A validated codebook with where it came from (for messages and provenance)."""

    book: Codebook
    path: Path
    sha256: str


def study_dir(ws: Workspace, config: StudyConfig) -> Path:
    return ws.codebooks / config.study


def round_path(ws: Workspace, config: StudyConfig, round_no: int) -> Path:
    return study_dir(ws, config) / f"round-{round_no}.yaml"


def _fail(path: Path, lines: dict, loc: tuple, message: str, hint: str) -> CdaError:
    line = yamlfile.line_of(loc, lines)
    where = f"{path}:{line}" if line else str(path)
    return CdaError(f"{where}: {yamlfile.format_loc(loc)}: {message}", hint=hint)


def _cycle(book: Codebook) -> list[str] | None:
    parent = {c.id: c.parent for c in book.codes}
    for start in parent:
        seen = [start]
        node = parent.get(start)
        while node is not None and node in parent:
            if node in seen:
                return [*seen[seen.index(node) :], node]
            seen.append(node)
            node = parent.get(node)
    return None


def check(book: Codebook, path: Path, lines: dict, *, previous: Codebook | None = None) -> None:
    """Rules a schema cannot express: unique ids, known parents and questions, no cycles,
    ``replaces`` naming codes of the ``based_on`` round, and a file name matching the round."""
    if path.stem != f"round-{book.round}":
        raise _fail(
            path,
            lines,
            ("round",),
            f"says round {book.round} but the file is {path.name}",
            hint=f"rename the file to round-{book.round}.yaml or fix 'round'",
        )
    seen: dict[str, int] = {}
    questions = {q.id for q in book.research_questions}
    for index, code in enumerate(book.codes):
        if code.id in seen:
            raise _fail(
                path,
                lines,
                ("codes", index, "id"),
                f"duplicate code id '{code.id}' (also codes[{seen[code.id]}])",
                hint="give every code its own id",
            )
        seen[code.id] = index
    for index, code in enumerate(book.codes):
        if code.parent is not None and code.parent not in seen:
            raise _fail(
                path,
                lines,
                ("codes", index, "parent"),
                f"unknown parent '{code.parent}'",
                hint="use the id of a code in this file",
            )
        for q_index, question in enumerate(code.research_questions):
            if question not in questions:
                raise _fail(
                    path,
                    lines,
                    ("codes", index, "research_questions", q_index),
                    f"unknown research question '{question}'",
                    hint="declare it under research_questions",
                )
        if code.replaces and book.based_on is None:
            raise _fail(
                path,
                lines,
                ("codes", index, "replaces"),
                "'replaces' needs 'based_on' (the round whose codes it replaces)",
                hint="set based_on: round-N.yaml",
            )
        for r_index, old in enumerate(code.replaces):
            if previous is not None and previous.code(old) is None:
                raise _fail(
                    path,
                    lines,
                    ("codes", index, "replaces", r_index),
                    f"'{old}' is not a code of {book.based_on}",
                    hint="name a code id of the previous round",
                )
    loop = _cycle(book)
    if loop:
        index = seen[loop[0]]
        raise _fail(
            path,
            lines,
            ("codes", index, "parent"),
            f"parent cycle: {' → '.join(loop)}",
            hint="a theme cannot contain itself",
        )


def load(path: Path, *, previous: Codebook | None = None) -> Loaded:
    if not path.is_file():
        raise CdaError(
            f"{path}: codebook not found", hint="create it with `cda codebook new --round N`"
        )
    data, lines = yamlfile.load(path)
    book = yamlfile.parse(Codebook, path, data, lines)
    check(book, path, lines, previous=previous)
    return Loaded(book, path, hashlib.sha256(path.read_bytes()).hexdigest())


def load_round(ws: Workspace, config: StudyConfig, round_no: int) -> Loaded:
    """Load a round and, through ``based_on``, the rounds it builds on (validated in order)."""
    return _load_chain(ws, config, round_path(ws, config, round_no), ())


def _load_chain(ws: Workspace, config: StudyConfig, path: Path, later: tuple[Path, ...]) -> Loaded:
    """Load ``path`` after the round it is ``based_on``; ``later``: the rounds built on it.

    ``based_on`` is validated as a file name when the file is parsed, so the base is always a
    sibling; a link leading out of the folder, or a chain that comes back to one of its own
    rounds, is refused before that file is read.
    """
    _inside_study(ws, config, path)
    previous = None
    if path.is_file():
        data, lines = yamlfile.load(path)
        based_on = yamlfile.parse(Codebook, path, data, lines).based_on
        if based_on:
            base = path.parent / based_on
            chain = (*later, path)
            if base in chain:
                loop = [p.name for p in chain[chain.index(base) :]] + [base.name]
                raise _fail(
                    path,
                    lines,
                    ("based_on",),
                    f"the rounds build on each other in a cycle: {' → '.join(loop)}",
                    hint="based_on names the earlier round a round builds on; a round cannot "
                    "build on itself or on a round built on it",
                )
            if not base.is_file():
                raise CdaError(
                    f"{path}: based_on '{based_on}' not found in {path.parent}",
                    hint="name the previous round's file, e.g. round-1.yaml",
                )
            previous = _load_chain(ws, config, base, chain).book
    loaded = load(path, previous=previous)
    if loaded.book.study != config.study:
        raise CdaError(
            f"{path}: study '{loaded.book.study}' is not this workspace's '{config.study}'",
            hint="fix 'study' in the codebook",
        )
    check_closed(ws, config, loaded)
    return loaded


def _inside_study(ws: Workspace, config: StudyConfig, path: Path) -> None:
    """Refuse a round file that is a link to somewhere outside the study's codebook folder."""
    folder = study_dir(ws, config).resolve()
    target = path.resolve()
    if path.is_symlink() and not target.is_relative_to(folder):
        raise CdaError(
            f"{path}: links to {target}, outside the study's codebook folder {folder}",
            hint="a round's codebook must be a file in that folder: copy it there instead "
            "of linking to it",
        )


def rounds(ws: Workspace, config: StudyConfig) -> list[int]:
    folder = study_dir(ws, config)
    found = []
    for path in folder.glob("round-*.yaml"):
        suffix = path.stem.removeprefix("round-")
        if suffix.isdigit():
            found.append(int(suffix))
    return sorted(found)


# state --------------------------------------------------------------------------------------


def _closed_file(ws: Workspace, config: StudyConfig) -> Path:
    return study_dir(ws, config) / "closed.json"


def closed_rounds(ws: Workspace, config: StudyConfig) -> dict[str, str]:
    """Round number → sha256 of its closed codebook, from ``closed.json``.

    The record is not derived data (it is what freezes a round), so a damaged one is refused,
    never reset: an empty record would let a closed round's codebook change unnoticed.
    """
    path = _closed_file(ws, config)
    if not path.is_file():
        return {}
    hint = (
        "it records which rounds are closed and the hash of each: restore it from git or a "
        "backup (do not delete it or write it by hand)"
    )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deep
        raise CdaError(f"{path}: damaged, not JSON ({_short(str(exc))})", hint=hint) from None
    if not isinstance(data, dict):
        raise CdaError(
            f"{path}: damaged: holds a {type(data).__name__}, not an object of "
            '"round": "sha256" entries',
            hint=hint,
        )
    for key, value in data.items():
        if not (ROUND_NO.fullmatch(key) and isinstance(value, str) and SHA256.fullmatch(value)):
            raise CdaError(
                f"{path}: damaged: entry {_short(repr(key))}: {_short(repr(value))} is not a "
                "round number with the sha256 of its codebook",
                hint=hint,
            )
    return data


def _short(text: str) -> str:
    """A quoted value of any length as one readable line of an error message."""
    return text if len(text) <= 80 else text[:77] + "..."


def check_closed(ws: Workspace, config: StudyConfig, loaded: Loaded) -> None:
    """A closed round's file must be byte-identical to what was closed."""
    recorded = closed_rounds(ws, config).get(str(loaded.book.round))
    if recorded is None:
        if loaded.book.state == "closed":
            raise CdaError(
                f"{loaded.path}: state is 'closed' but the round was never closed",
                hint=f"run `cda codebook close --round {loaded.book.round}`",
            )
        return
    if recorded != loaded.sha256:
        raise CdaError(
            f"{loaded.path}: round {loaded.book.round} is closed, but its codebook changed "
            "since it was closed",
            hint="restore the closed version (e.g. from git); start a new round for changes",
        )


def require_open(loaded: Loaded) -> None:
    """Refuse to write anything for a closed round (suggestions, codings)."""
    if loaded.book.state == "closed":
        raise CdaError(
            f"round {loaded.book.round} is closed: its codebook and codes are frozen",
            hint=f"start round {loaded.book.round + 1} with `cda codebook new "
            f"--round {loaded.book.round + 1}`",
        )


def set_state(ws: Workspace, config: StudyConfig, round_no: int, state: State) -> Loaded:
    """Move a round forward (open → coding → closed); closing records the file's hash."""
    loaded = load_round(ws, config, round_no)
    order = ["open", "coding", "closed"]
    if order.index(state) < order.index(loaded.book.state):
        raise CdaError(
            f"round {round_no} is '{loaded.book.state}'; it cannot go back to '{state}'",
            hint="start a new round instead",
        )
    text = loaded.path.read_text(encoding="utf-8")
    # Edit the top-level key in place, keeping the analysts' comments and layout.
    text, found = re.subn(r"(?m)^state:[ \t]*\S+[ \t]*$", f"state: {state}", text, count=1)
    if not found:
        text = re.sub(r"(?m)^(round:.*)$", rf"\1\nstate: {state}", text, count=1)
    write_text(loaded.path, text)
    reloaded = load(loaded.path)
    if state == "closed":
        closed = closed_rounds(ws, config)
        closed[str(round_no)] = reloaded.sha256
        write_text(_closed_file(ws, config), json.dumps(closed, indent=2, sort_keys=True) + "\n")
    return reloaded


# new ----------------------------------------------------------------------------------------


def new_round(ws: Workspace, config: StudyConfig, round_no: int) -> Path:
    """Start ``round_no``: a copy of the previous round's codes (or an empty round 1)."""
    path = round_path(ws, config, round_no)
    if path.exists():
        raise CdaError(f"{path} already exists", hint="edit it, or start the next round")
    if round_no == 1:
        # Topic candidates (issue 6) are written in this format; start from them if present.
        candidates = path.with_name("round-1.candidates.yaml")
        text = (
            candidates.read_text(encoding="utf-8")
            if candidates.is_file()
            else f"study: {config.study}\nround: 1\nlanguage: {config.language}\nstate: open\n"
            "research_questions: []\ncodes: []\n"
        )
    else:
        previous = round_path(ws, config, round_no - 1)
        if not previous.is_file():
            raise CdaError(
                f"round {round_no - 1} has no codebook ({previous})",
                hint=f"start with `cda codebook new --round {round_no - 1}`",
            )
        base = load_round(ws, config, round_no - 1).book
        data = base.model_dump(mode="json", exclude_defaults=False)
        data.update({"round": round_no, "state": "open", "based_on": previous.name})
        for code in data["codes"]:
            code["replaces"] = []
        text = (
            f"# Round {round_no}, based on {previous.name}. Mark merged or renamed codes "
            "with 'replaces'.\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        )
    write_text(path, text)
    return path


# diff ---------------------------------------------------------------------------------------

COMPARED = (
    "label",
    "description",
    "include",
    "exclude",
    "parent",
    "research_questions",
    "keywords",
    "patterns",
    "examples",
)


@dataclass(frozen=True)
class Change:
    kind: str
    """added, removed, renamed, merged, split or changed."""
    old: tuple[str, ...]
    new: tuple[str, ...]
    detail: str = ""


def diff(old: Codebook, new: Codebook) -> list[Change]:
    """What changed from ``old`` to ``new``, reading ``replaces`` for renames, merges, splits."""
    replaced_by: dict[str, list[str]] = {}
    for code in new.codes:
        for gone in code.replaces:
            replaced_by.setdefault(gone, []).append(code.id)
    changes: list[Change] = []
    seen_old: set[str] = set()
    seen_new: set[str] = set()
    for gone, successors in replaced_by.items():
        if len(successors) > 1:
            changes.append(Change("split", (gone,), tuple(successors)))
            seen_old.add(gone)
            seen_new.update(successors)
    for code in new.codes:
        sources = [r for r in code.replaces if r not in seen_old]
        if len(sources) > 1:
            changes.append(Change("merged", tuple(sources), (code.id,)))
        elif len(sources) == 1 and sources[0] != code.id:
            changes.append(Change("renamed", (sources[0],), (code.id,)))
        else:
            continue
        seen_old.update(sources)
        seen_new.add(code.id)
    for code in new.codes:
        before = old.code(code.id)
        if code.id in seen_new or before is None:
            continue
        fields = [f for f in COMPARED if getattr(before, f) != getattr(code, f)]
        if fields:
            changes.append(Change("changed", (code.id,), (code.id,), ", ".join(fields)))
        seen_old.add(code.id)
        seen_new.add(code.id)
    changes += [Change("added", (), (c,)) for c in new.ids if c not in seen_new]
    changes += [Change("removed", (c,), ()) for c in old.ids if c not in seen_old]
    order = ["added", "removed", "renamed", "merged", "split", "changed"]
    return sorted(changes, key=lambda ch: (order.index(ch.kind), ch.new or ch.old))


def diff_markdown(changes: list[Change], old_name: str, new_name: str) -> str:
    """The diff as a Markdown table, for the report's appendix."""
    lines = [f"| change | {old_name} | {new_name} | fields |", "|---|---|---|---|"]
    for ch in changes:
        lines.append(
            f"| {ch.kind} | {', '.join(ch.old) or '–'} | {', '.join(ch.new) or '–'} "
            f"| {ch.detail or '–'} |"
        )
    if not changes:
        lines.append("| (no changes) | | | |")
    return "\n".join(lines) + "\n"
