"""Hostile study files and damaged state (issue 17): user YAML, codebook rounds, stage records.

User files (cda.yaml, codebooks) and records that are not derived (``closed.json``, the Label
Studio project record) are refused when damaged, naming the file and what to do, with nothing
written. Derived files (the parse cache, lock files, transcription step records) are rebuilt:
a damaged cache costs a rerun, and the stage's outputs are those of a clean run, byte for byte.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hostile import GIB, cda, files_under, refused

from pipeline.cli.init import init_workspace
from pipeline.core.paths import Workspace


def succeeded(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return " ".join((proc.stdout + proc.stderr).split())


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace.at(tmp_path / "study" / "ws")
    init_workspace(workspace, study="hostile", groups=["burgers"])
    return workspace


def round_file(ws: Workspace, round_no: int, extra: str = "", *, study: str = "hostile") -> Path:
    """A valid round (one code) with ``extra`` top-level lines."""
    path = ws.codebooks / study / f"round-{round_no}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"study: {study}\nround: {round_no}\n{extra}codes:\n"
        "  - id: vertrouwen\n    label: Vertrouwen\n    description: Over vertrouwen.\n",
        encoding="utf-8",
    )
    return path


# user YAML: a recursive alias --------------------------------------------------------------


def test_a_recursive_alias_in_cda_yaml_is_refused_in_bounded_memory(ws: Workspace) -> None:
    """Aliases are refused by an event scan before anything is composed (on main already)."""
    original = ws.config_file.read_text(encoding="utf-8")
    lines = original.count("\n")
    ws.config_file.write_text(original + "loop: &x [*x]\n", encoding="utf-8")
    before = files_under(ws.root)
    proc = cda("config", "show", "--workspace", str(ws.root), memory=GIB)
    refused(proc, f"cda.yaml:{lines + 1}:", "alias *x is not accepted", "write the value of &x")
    assert files_under(ws.root) == before


def test_a_recursive_alias_in_a_codebook_is_refused_in_bounded_memory(ws: Workspace) -> None:
    path = round_file(ws, 1, "notes: &x [*x]\n")
    before = files_under(ws.root)
    proc = cda("codebook", "check", "--workspace", str(ws.root), memory=GIB)
    refused(proc, f"{path}:3:", "alias *x is not accepted", "write the value of &x")
    assert files_under(ws.root) == before


# the study slug: a folder name -------------------------------------------------------------


@pytest.mark.parametrize("study", ["../../../x", "ABSOLUTE", "a/b", "..", "-x", "a b"])
def test_a_study_slug_that_would_leave_the_workspace_is_refused(
    ws: Workspace, tmp_path: Path, study: str
) -> None:
    """The slug names codebooks/<study>/: main wrote round-1.yaml wherever it pointed."""
    study = str(tmp_path / "x") if study == "ABSOLUTE" else study
    text = ws.config_file.read_text(encoding="utf-8").replace("study: hostile", f"study: '{study}'")
    ws.config_file.write_text(text, encoding="utf-8")
    before = files_under(tmp_path)
    proc = cda("codebook", "new", "--round", "1", "--workspace", str(ws.root))
    refused(proc, f"{ws.config_file}:4: study:", f"{study!r} is not a valid study slug")
    assert files_under(tmp_path) == before
    fresh = tmp_path / "fresh"
    proc = cda("init", "--study", study, "--workspace", str(fresh))
    refused(proc, f"--study {study!r} is not a valid study slug", "give --study a slug")
    assert not fresh.exists()


# based_on: cycles ----------------------------------------------------------------------------


def test_a_round_based_on_itself_is_refused_naming_the_cycle(ws: Workspace) -> None:
    round_file(ws, 1)
    own = round_file(ws, 2, "based_on: round-2.yaml\n")
    before = files_under(ws.root)
    proc = cda("codebook", "check", "--workspace", str(ws.root), memory=GIB)
    refused(
        proc,
        f"{own}:3: based_on:",
        "cycle: round-2.yaml → round-2.yaml",
        "cannot build on itself",
    )
    assert files_under(ws.root) == before


def test_a_longer_based_on_cycle_is_refused_naming_its_files(ws: Workspace) -> None:
    round_file(ws, 1)
    round_file(ws, 2, "based_on: round-3.yaml\n")
    third = round_file(ws, 3, "based_on: round-2.yaml\n")
    before = files_under(ws.root)
    proc = cda("codebook", "check", "--workspace", str(ws.root), memory=GIB)
    # round 2 is loaded first: round-2 → round-3 → back to round-2, stated at round-3's line
    refused(proc, f"{third}:3:", "cycle: round-2.yaml → round-3.yaml → round-2.yaml")
    # a new round on top of the cycle is refused before round-4.yaml is written
    proc = cda("codebook", "new", "--round", "4", "--workspace", str(ws.root), memory=GIB)
    refused(proc, "cycle: round-3.yaml → round-2.yaml → round-3.yaml")
    assert files_under(ws.root) == before


# based_on: nothing outside the study's codebook folder ----------------------------------------


def _trap(tmp_path: Path) -> Path:
    """A valid codebook outside the workspace: main loaded it as the base round."""
    trap = tmp_path / "outside" / "trap.yaml"
    trap.parent.mkdir()
    trap.write_text(
        "study: hostile\nround: 1\ncodes:\n"
        "  - id: elders\n    label: Elders\n    description: Van buiten de studie.\n",
        encoding="utf-8",
    )
    return trap


@pytest.mark.parametrize(
    "based_on",
    ["../../../../outside/trap.yaml", "ABSOLUTE", "../../../../../../../../etc/passwd",
     "sub/round-1.yaml", "round-1.yml", "round-01.yaml"],
)  # fmt: skip
def test_based_on_must_name_a_round_file_of_the_same_folder(
    ws: Workspace, tmp_path: Path, based_on: str
) -> None:
    trap = _trap(tmp_path)
    based_on = str(trap) if based_on == "ABSOLUTE" else based_on
    round_file(ws, 1)
    second = round_file(ws, 2, f"based_on: {based_on}\n")
    (second.parent / "sub").mkdir()
    shutil.copy(second.parent / "round-1.yaml", second.parent / "sub" / "round-1.yaml")
    before = files_under(tmp_path)
    proc = cda("codebook", "check", "--workspace", str(ws.root))
    refused(
        proc,
        f"{second}:3: based_on:",
        f"'{based_on}' is not a round file name",
        "such as round-1.yaml",
    )
    assert files_under(tmp_path) == before


def test_a_round_file_linking_out_of_the_folder_is_refused(ws: Workspace, tmp_path: Path) -> None:
    trap = _trap(tmp_path)
    link = ws.codebooks / "hostile" / "round-1.yaml"
    link.parent.mkdir(parents=True)
    link.symlink_to(trap)
    round_file(ws, 2, "based_on: round-1.yaml\n")
    before = files_under(tmp_path)
    for args in (["codebook", "check"], ["codebook", "diff", "round-1", "round-2"]):
        proc = cda(*args, "--workspace", str(ws.root))
        refused(proc, f"{link}: links to {trap}", "outside the study's codebook folder", "copy it")
    assert files_under(tmp_path) == before


def test_a_link_inside_the_folder_and_a_linked_codebooks_folder_are_fine(
    ws: Workspace, tmp_path: Path
) -> None:
    """Only links that lead out are refused: a study may keep its codebooks elsewhere."""
    kept = tmp_path / "kept" / "hostile"
    kept.mkdir(parents=True)
    shutil.rmtree(ws.codebooks)
    ws.codebooks.symlink_to(kept.parent)
    round_file(ws, 1)
    (kept / "round-2.yaml").symlink_to(kept / "round-1.yaml")  # round says 1: refused by name
    proc = cda("codebook", "check", "--workspace", str(ws.root))
    refused(proc, "says round 1 but the file is round-2.yaml")
    (kept / "round-2.yaml").unlink()
    round_file(ws, 2, "based_on: round-1.yaml\n")
    out = succeeded(cda("codebook", "check", "--workspace", str(ws.root)))
    assert "round-1.yaml" in out


# closed.json: a record, not a cache ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not JSON"),
        (b'{"1": "' + b"a" * 30, "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'["1"]', "holds a list"),
        (b'"1"', "holds a str"),
        (b'{"1": 5}', "entry '1': 5 is not a round number with the sha256"),
        (b'{"one": "' + b"a" * 64 + b'"}', "entry 'one'"),
    ],
)
def test_a_damaged_closed_json_is_refused_never_reset(
    ws: Workspace, content: bytes, problem: str
) -> None:
    round_file(ws, 1)
    record = ws.codebooks / "hostile" / "closed.json"
    record.write_bytes(content)
    before = files_under(ws.root)
    hint = "records which rounds are closed and the hash of each: restore it from git or a backup"
    proc = cda("codebook", "check", "--workspace", str(ws.root), memory=GIB)
    refused(proc, f"{record}: damaged", problem, hint)
    # closing a round reads the record first: refused, and neither file is touched
    proc = cda("codebook", "state", "closed", "--round", "1", "--workspace", str(ws.root))
    refused(proc, f"{record}: damaged", hint)
    assert files_under(ws.root) == before


def test_an_intact_closed_json_still_freezes_the_round(ws: Workspace) -> None:
    round_file(ws, 1)
    succeeded(cda("codebook", "state", "closed", "--round", "1", "--workspace", str(ws.root)))
    record = json.loads((ws.codebooks / "hostile" / "closed.json").read_text(encoding="utf-8"))
    assert list(record) == ["1"] and len(record["1"]) == 64
    path = ws.codebooks / "hostile" / "round-1.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Over", "Om"), encoding="utf-8")
    refused(cda("codebook", "check", "--workspace", str(ws.root)), "round 1 is closed, but")


# the nlp stage's files: derived, rebuilt ------------------------------------------------------


@pytest.fixture(scope="module")
def parsed_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample study through the nlp stage, by the CLI as make runs it (so with its lock
    file); each test gets a copy."""
    root = tmp_path_factory.mktemp("parsed") / "ws"
    for args in (["init", "--sample"], ["import"], ["pseudonymise"], ["run", "nlp"]):
        succeeded(cda(*args, "--workspace", str(root)))
    return root


@pytest.fixture
def parsed(parsed_sample: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(parsed_sample, tmp_path / "ws", symlinks=True)
    return Workspace.at(tmp_path / "ws")


def _cache(ws: Workspace) -> Path:
    (cache,) = (ws.interim / "nlp").glob("docs-*.spacy")
    return cache


def _swapped_keys(cache: Path) -> bytes:
    """A readable cache in the old format (each doc's text hash in its user data) whose first
    two docs carry each other's text hash."""
    import spacy
    from spacy.tokens import DocBin

    from pipeline.language.parse import text_key

    docs = list(DocBin().from_disk(cache).get_docs(spacy.blank("nl").vocab))
    for doc in docs:
        doc.user_data["cda_key"] = text_key(doc.text)
    first, second = docs[0].user_data["cda_key"], docs[1].user_data["cda_key"]
    docs[0].user_data["cda_key"], docs[1].user_data["cda_key"] = second, first
    return DocBin(store_user_data=True, docs=docs).to_bytes()


@pytest.mark.parametrize("damage", ["empty", "truncated", "random", "swapped-keys"])
def test_a_damaged_parse_cache_is_rebuilt_to_the_outputs_of_a_clean_run(
    parsed: Workspace, damage: str
) -> None:
    clean = files_under(parsed.root)
    cache = _cache(parsed)
    data = cache.read_bytes()
    cache.write_bytes(
        {
            "empty": b"",
            "truncated": data[: len(data) // 2],
            "random": bytes(range(256)) * 64,
            "swapped-keys": _swapped_keys(cache) if damage == "swapped-keys" else b"",
        }[damage]
    )
    said = succeeded(cda("nlp", "--workspace", str(parsed.root)))
    if damage == "swapped-keys":  # two docs' texts do not match their keys: only they reparse
        assert "2 cached doc(s) do not match their text; reparsing them" in said
        assert "2 segment(s) parsed, 146 from cache" in said
    else:
        assert "the parse cache is unreadable" in said and "rebuilding it" in said
        assert "148 segment(s) parsed, 0 from cache" in said
    # tokens, sentences, markers, nlp.json and the rebuilt cache: as a clean run left them
    assert files_under(parsed.root) == clean


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"pipeline": "blank:nl', "damaged, not JSON"),
        ("", "damaged, not JSON"),
        ("[]", "damaged: holds a list, not an object"),
        (
            '{"pipeline": "x", "disabled_features": "POS"}',
            "damaged: 'disabled_features' is not a list",
        ),
    ],
)
def test_the_report_refuses_a_damaged_nlp_json_and_says_how_to_rewrite_it(
    parsed: Workspace, content: str, problem: str
) -> None:
    import pandas as pd

    from pipeline.core.io import read_table, write_table
    from pipeline.core.schemas import DOC_TOPICS, SEGMENTS, TOPICS

    first = read_table(parsed.segments, SEGMENTS)["segment_id"].iloc[0]
    topics = pd.DataFrame(
        [{"topic": 0, "label": "0_x", "keywords": "x", "size": 1,
          "representative_segments": first, "code": None}]
    )  # fmt: skip
    write_table(topics, TOPICS, parsed.topics(1))
    doc_topics = {"segment_id": [first], "unit": [0], "topic": [0], "probability": [1.0],
                  "centrality": [1.0]}  # fmt: skip
    write_table(pd.DataFrame(doc_topics), DOC_TOPICS, parsed.doc_topics(1))
    summary = parsed.interim / "nlp.json"
    intact = summary.read_bytes()
    summary.write_text(content, encoding="utf-8")
    inputs = files_under(parsed.data)
    proc = cda("report", "--round", "1", "--workspace", str(parsed.root))
    refused(proc, "data/interim/nlp.json: " + problem, "run `cda nlp`")
    assert files_under(parsed.data) == inputs
    assert not (parsed.report_dir(1) / "index.html").exists()
    if content:
        return
    # the hint works: the stage writes the summary again, and the report is built
    succeeded(cda("nlp", "--workspace", str(parsed.root)))
    assert summary.read_bytes() == intact
    succeeded(cda("report", "--round", "1", "--workspace", str(parsed.root)))
    page = (parsed.report_dir(1) / "index.html").read_text(encoding="utf-8")
    assert json.loads(intact)["pipeline"] in page  # the pipeline that ran, named again


# lock files and step records: derived bookkeeping, a rerun ----------------------------------


@pytest.mark.parametrize(
    "damage",
    ["truncated", "outputs-a-list", "hash-cache-a-list", "hash-not-text"],
)
def test_a_damaged_lock_file_means_rerun_not_a_traceback(parsed: Workspace, damage: str) -> None:
    lock = parsed.state_dir / "lock" / "nlp.json"
    intact = lock.read_text(encoding="utf-8")
    record = json.loads(intact)
    if damage == "truncated":
        lock.write_text(lock.read_text(encoding="utf-8")[:200], encoding="utf-8")
    elif damage == "outputs-a-list":
        record["outputs"] = list(record["outputs"])
        lock.write_text(json.dumps(record), encoding="utf-8")
    elif damage == "hash-cache-a-list":
        record["hash_cache"] = list(record["hash_cache"])
        lock.write_text(json.dumps(record), encoding="utf-8")
    else:  # a cached input hash that is no text: the input is hashed again
        record["hash_cache"] = {k: [v[0], 5] for k, v in record["hash_cache"].items()}
        lock.write_text(json.dumps(record), encoding="utf-8")
    outputs = files_under(parsed.interim)
    said = succeeded(cda("run", "nlp", "--workspace", str(parsed.root)))
    if damage.startswith("hash"):  # only the hash cache is damaged: hashed again, not rerun
        assert "inputs, code and settings unchanged" in said
    else:
        assert "segment(s) parsed" in said and "unchanged" not in said
    assert files_under(parsed.interim) == outputs  # the same bytes as before the damage
    assert json.loads(lock.read_text(encoding="utf-8")) == json.loads(intact)  # whole again


@pytest.mark.parametrize("content", ["[]", '{"asr": []}', '{"asr": {"seconds": 1}}', "{", "7"])
def test_a_damaged_transcription_step_record_reruns_its_steps(ws: Workspace, content: str) -> None:
    from pipeline.transcribe.steps import pending_steps, read_state, state_file

    path = state_file(ws, "rec")
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    outputs = {s: path.parent / f"{s}.json" for s in ("asr", "align", "diarise", "assign")}
    for output in outputs.values():
        output.write_text("{}", encoding="utf-8")
    keys = {"asr": "k1", "align": "k2", "assign": "k3"}
    assert read_state(ws, "rec") == {}
    assert pending_steps(keys, read_state(ws, "rec"), outputs) == ("asr", "align", "assign")
    # an intact entry next to a damaged one is kept: only the damaged step reruns
    path.write_text(json.dumps({"asr": {"key": "k1"}, "align": [1]}), encoding="utf-8")
    assert pending_steps(keys, read_state(ws, "rec"), outputs) == ("align", "assign")


# the Label Studio project record: refused with a safe way out ---------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"ana": {"id": 3', "damaged, not JSON"),
        ('["ana"]', "damaged, holds a list"),
        ('{"ana": 3}', "damaged, coder 'ana' has no project id, title and url"),
        ('{"ana": {"id": "3", "title": "t", "url": "u"}}', "damaged, coder 'ana'"),
    ],
)
def test_a_damaged_label_studio_project_record_is_refused(
    ws: Workspace, content: str, problem: str
) -> None:
    from pipeline.codings.order import RoundProjects, label_studio_coders
    from pipeline.core.errors import CdaError

    projects = RoundProjects(ws, 1)
    projects.path.parent.mkdir(parents=True)
    projects.path.write_text(content, encoding="utf-8")
    with pytest.raises(CdaError) as caught:  # a push looks the coder's project up
        label_studio_coders(ws, 1) if "coder" not in problem else projects.get("ana")
    assert str(caught.value).startswith(f".cda/labelstudio/round-1.json: {problem}")
    assert "the next `cda ls push` finds each coder's project again" in caught.value.hint
    # the hint is true: without the record, a push looks projects up by title (see find_project)
    projects.path.unlink()
    assert label_studio_coders(ws, 1) == set() and projects.get("ana") is None
    projects.record("ana", project_id=3, title="t", url="http://x")
    assert projects.get("ana") == {"id": 3, "title": "t", "url": "http://x"}
