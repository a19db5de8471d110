"""Codebooks: every validation error with file and line, diffs, new rounds and frozen rounds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.cli.init import init_workspace
from pipeline.codebook import (
    Change,
    diff,
    diff_markdown,
    load,
    load_round,
    new_round,
    require_open,
    round_path,
    set_state,
)
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "pipeline" / "resources" / "sample"
STARTER = SAMPLE / "codebooks" / "digitalisering-cohesie" / "round-1.yaml"


def code(id_: str, **fields) -> dict:
    return {"id": id_, "label": id_.title(), "description": f"Over {id_}.", **fields}


def book(round_no: int = 1, codes: list[dict] | None = None, **fields) -> dict:
    return {
        "study": "proef",
        "round": round_no,
        "language": "nl",
        "research_questions": [{"id": "RQ1", "text": "Wat?"}],
        "codes": codes if codes is not None else [code("a"), code("b", parent="a")],
        **fields,
    }


def write(folder: Path, data: dict, name: str | None = None) -> Path:
    path = folder / (name or f"round-{data['round']}.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def test_starter_codebook_is_valid_and_covers_the_themes() -> None:
    loaded = load(STARTER)
    ids = set(loaded.book.ids)
    assert {
        "toekomst-speculeren",
        "vertrouwen-overheid",
        "winnaars-verliezers",
        "china-dystopie",
    } <= ids
    typology = {c.id for c in loaded.book.codes if c.parent == "digitale-kloof"}
    assert typology == {"havenots", "cannots", "maynots", "darenots", "wantnots"}
    assert all(c.description.strip() for c in loaded.book.codes)


@pytest.mark.parametrize(
    ("codes", "extra", "field", "needle", "occurrence", "problem"),
    [
        ([code("a"), code("a")], {}, "codes[1].id", "id: a", 2, "duplicate code id 'a'"),
        ([code("a", parent="x")], {}, "codes[0].parent", "parent: x", 1, "unknown parent 'x'"),
        (
            [code("a", parent="b"), code("b", parent="a")],
            {},
            "codes[0].parent",
            "parent: b",
            1,
            "parent cycle: a → b → a",
        ),
        (
            [code("a", description="  ")],
            {},
            "codes[0].description",
            "description:",
            1,
            "empty description",
        ),
        (
            [code("a", research_questions=["RQ9"])],
            {},
            "codes[0].research_questions[0]",
            "RQ9",
            1,
            "unknown research question 'RQ9'",
        ),
        (
            [code("a", replaces=["old"])],
            {},
            "codes[0].replaces",
            "replaces:",
            1,
            "'replaces' needs 'based_on'",
        ),
        ([code("Niet Goed")], {}, "codes[0].id", "id: Niet Goed", 1, "should match pattern"),
        (
            [code("a", colour="rood")],
            {},
            "codes[0].colour",
            "colour:",
            1,
            "Extra inputs are not permitted",
        ),
        ([code("a")], {"state": "klaar"}, "state", "state:", 1, "Input should be 'open'"),
    ],
)
def test_every_validation_error_names_file_line_and_field(
    tmp_path: Path, codes, extra, field, needle, occurrence, problem
) -> None:
    path = write(tmp_path, book(codes=codes, **extra))
    with pytest.raises(CdaError) as info:
        load(path)
    message = info.value.message
    assert message.startswith(f"{path}:{line_of(path, needle, occurrence)}: {field}: "), message
    assert problem in message


def test_round_must_match_file_name_and_replaces_must_exist_in_based_on(tmp_path: Path) -> None:
    path = write(tmp_path, book(round_no=2), name="round-3.yaml")
    with pytest.raises(CdaError, match=r"says round 2 but the file is round-3\.yaml"):
        load(path)
    previous = load(write(tmp_path, book())).book
    path = write(tmp_path, book(2, [code("c", replaces=["a", "zz"])], based_on="round-1.yaml"))
    with pytest.raises(CdaError) as info:
        load(path, previous=previous)
    assert f"{path}:{line_of(path, '- zz')}: codes[0].replaces[1]" in info.value.message
    assert "'zz' is not a code of round-1.yaml" in info.value.message


def test_diff_reads_renames_merges_and_splits_from_replaces() -> None:
    from pipeline.codebook import Codebook

    old = Codebook.model_validate(book(codes=[code(c) for c in "abcdeg"]))
    new = Codebook.model_validate(
        book(
            2,
            based_on="round-1.yaml",
            codes=[
                code("a", description="Scherper omschreven."),
                code("b2", replaces=["b"]),
                code("cd", replaces=["c", "d"]),
                code("e1", replaces=["e"]),
                code("e2", replaces=["e"]),
                code("f"),
            ],
        )
    )
    assert diff(old, new) == [
        Change("added", (), ("f",)),
        Change("removed", ("g",), ()),
        Change("renamed", ("b",), ("b2",)),
        Change("merged", ("c", "d"), ("cd",)),
        Change("split", ("e",), ("e1", "e2")),
        Change("changed", ("a",), ("a",), "description"),
    ]
    markdown = diff_markdown(diff(old, new), "round-1", "round-2")
    assert "| merged | c, d | cd | – |" in markdown
    assert markdown.startswith("| change | round-1 | round-2 | fields |")
    assert diff(old, old) == []


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, sample=True)
    return ws


def test_new_round_builds_on_the_previous_one(ws: Workspace) -> None:
    config = load_config(ws)
    with pytest.raises(CdaError, match="already exists"):
        new_round(ws, config, 1)
    path = new_round(ws, config, 2)
    loaded = load_round(ws, config, 2)
    assert path == round_path(ws, config, 2)
    assert loaded.book.based_on == "round-1.yaml" and loaded.book.state == "open"
    assert loaded.book.ids == load_round(ws, config, 1).book.ids
    with pytest.raises(CdaError, match="round 3 has no codebook"):
        new_round(ws, config, 4)


def test_a_closed_round_is_frozen(ws: Workspace) -> None:
    config = load_config(ws)
    set_state(ws, config, 1, "coding")
    with pytest.raises(CdaError, match="cannot go back to 'open'"):
        set_state(ws, config, 1, "open")
    closed = set_state(ws, config, 1, "closed")
    record = json.loads((ws.codebooks / config.study / "closed.json").read_text())
    assert record == {"1": closed.sha256}
    with pytest.raises(CdaError, match="round 1 is closed"):
        require_open(load_round(ws, config, 1))

    path = round_path(ws, config, 1)
    path.write_text(path.read_text().replace("Moeite met", "Problemen met"))
    with pytest.raises(CdaError, match="round 1 is closed, but its codebook changed"):
        load_round(ws, config, 1)


def test_codebook_commands(ws: Workspace, tmp_path: Path) -> None:
    cda = str(ROOT / ".venv" / "bin" / "cda")
    config = load_config(ws)
    first = load_round(ws, config, 1).book
    data = first.model_dump(mode="json")
    data.update(round=2, based_on="round-1.yaml")
    data["codes"] = [c for c in data["codes"] if c["id"] not in ("havenots", "cannots")]
    data["codes"].append({**code("toegang"), "replaces": ["havenots", "cannots"]})
    write(ws.codebooks / config.study, data)

    proc = subprocess.run(
        [cda, "codebook", "check", "-w", str(ws.root)], capture_output=True, text=True, check=True
    )
    assert "open" in proc.stdout and "round-1.yaml" in proc.stdout
    md = tmp_path / "diff.md"
    proc = subprocess.run(
        [cda, "codebook", "diff", "round-1", "round-2", "-w", str(ws.root), "--markdown", str(md)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "merged" in proc.stdout
    assert "| merged | havenots, cannots | toegang | – |" in md.read_text()

    (ws.codebooks / config.study / "round-2.yaml").write_text("study: proef\nround: [\n")
    proc = subprocess.run(
        [cda, "codebook", "check", "-w", str(ws.root)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "round-2.yaml:" in proc.stderr and "invalid YAML" in proc.stderr


def test_state_change_keeps_comments_and_adds_a_missing_key(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="proef", groups=["burgers"])
    config = load_config(ws)
    path = round_path(ws, config, 1)
    path.parent.mkdir(parents=True)
    path.write_text(
        "# ons codeboek\nstudy: proef\nround: 1\ncodes:\n  - id: a\n    label: A\n"
        "    description: 'Let op: state: open is hier gewoon tekst.'\n",
        encoding="utf-8",
    )
    set_state(ws, config, 1, "coding")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ons codeboek\nstudy: proef\nround: 1\nstate: coding\n")
    assert "state: open is hier gewoon tekst" in text
    assert load_round(ws, config, 1).book.state == "coding"
