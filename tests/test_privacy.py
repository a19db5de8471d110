"""End to end: after the whole pipeline on the bundled sample, no name survives outside private/.

The scan folds text with its own function (not the pipeline's) so a bug in the masker's
folding cannot hide itself, and it reads every file under data/interim, data/processed and
reports/: string columns of parquet files, and the full text of everything else.
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.paths import Workspace
from pipeline.importers import import_transcripts
from pipeline.nlp import run_nlp
from pipeline.pseudonymise import pseudonymise
from pipeline.report import run_report
from pipeline.suggest import run_suggest
from pipeline.topics import run_topics


def run_exports(ws: Workspace, config) -> None:
    """Everything ``make export`` writes: spreadsheets, subtitles, REFI-QDA files."""
    from pipeline.export import write_csv, write_qdc, write_subtitles, write_xlsx
    from pipeline.export.qdpx import write_qdpx

    write_csv(ws, config, 1)
    write_xlsx(ws, config, 1)
    write_subtitles(ws, "srt")
    write_subtitles(ws, "vtt")
    write_qdc(ws, config, 1)
    write_qdpx(ws, config, 1)


STAGES = (
    import_transcripts,
    pseudonymise,
    run_nlp,
    run_topics,
    lambda ws, config: run_suggest(ws, config, round_no=1),
    run_report,
    run_exports,
)
TEXT_SUFFIXES = {".csv", ".json", ".html", ".txt", ".md", ".yaml", ".yml", ".srt", ".vtt", ".qdc"}


# an independent scanner ----------------------------------------------------------------------


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, drop combining marks, casefold."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.casefold().replace("’", "'").replace("‘", "'")


def whole_word_pattern(names: set[str]) -> re.Pattern[str]:
    parts = sorted({" ".join(fold(n).split()) for n in names}, key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(w) for w in name.split()) for name in parts)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)")


@dataclass(frozen=True)
class Hit:
    path: Path
    where: str
    match: str
    context: str

    def __str__(self) -> str:
        return f"{self.where}: {self.match!r} in ...{self.context}..."


@dataclass
class Scan:
    files: list[Path]
    chunks: int
    characters: int
    hits: list[Hit]


def _string_columns(path: Path) -> list[tuple[str, str]]:
    """(where, text) for every string column of a parquet file, values joined by spaces.

    Joining lets a name split over rows (one token per row) still be found as a whole.
    """
    table = pq.read_table(path)
    out = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            values = table.column(field.name).cast(kind).to_pylist()
            out.append((f"{path}[{field.name}]", " ".join(v for v in values if v is not None)))
    metadata = table.schema.metadata or {}
    out.append(
        (f"{path}(metadata)", " ".join(v.decode("utf-8", "replace") for v in metadata.values()))
    )
    return out


def _docbin_texts(path: Path) -> list[tuple[str, str]]:
    """A spaCy DocBin (the nlp parse cache): its docs' texts and its whole string table."""
    import spacy
    from spacy.tokens import DocBin

    store = DocBin(store_user_data=True).from_disk(path)
    texts = " ".join(doc.text for doc in store.get_docs(spacy.blank("nl").vocab))
    return [(f"{path}(docs)", texts), (f"{path}(strings)", " ".join(sorted(store.strings)))]


def _png_texts(path: Path) -> list[tuple[str, str]]:
    """A PNG's text chunks (tEXt/iTXt/zTXt metadata). Rendered labels are pixels: they come
    from the pseudonymised tables scanned here, so the tables stand in for them."""
    import struct
    import zlib

    data, texts, pos = path.read_bytes(), [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind in (b"tEXt", b"iTXt"):
            texts.append(body.decode("latin-1"))
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            texts.append(key.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1"))
        pos += 12 + length
    return [(f"{path}(png text)", " ".join(texts))]


def _xlsx_texts(path: Path) -> list[tuple[str, str]]:
    """Every cell of every sheet of a workbook."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return [
            (f"{path}[{sheet.title}]",
             " ".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row if v))
            for sheet in book.worksheets
        ]  # fmt: skip
    finally:
        book.close()


def _zip_texts(path: Path) -> list[tuple[str, str]]:
    """Each member of a REFI-QDA archive (project XML and transcripts), entities unescaped."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        texts = []
        for name in archive.namelist():
            text = archive.read(name).decode("utf-8")
            texts += [(f"{path}!{name}", text), (f"{path}!{name}(unescaped)", html.unescape(text))]
        return texts


def _file_texts(path: Path) -> list[tuple[str, str]]:
    if path.suffix == ".parquet":
        return _string_columns(path)
    if path.suffix == ".xlsx":
        return _xlsx_texts(path)
    if path.suffix == ".qdpx":
        return _zip_texts(path)
    if path.suffix == ".png":
        return _png_texts(path)
    if path.suffix == ".spacy":
        return _docbin_texts(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        pytest.fail(f"{path}: neither parquet nor UTF-8 text; teach this scan to read it")
    if path.suffix not in TEXT_SUFFIXES:
        pytest.fail(f"{path}: unexpected output type; add its suffix to this scan")
    texts = [(str(path), text)]
    if path.suffix == ".html":
        texts.append((f"{path}(unescaped)", html.unescape(text)))
    if path.suffix == ".json":
        texts.append((f"{path}(decoded)", json.dumps(json.loads(text), ensure_ascii=False)))
    return texts


def scan(folders: list[Path], pattern: re.Pattern[str]) -> Scan:
    files = sorted(
        p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()
    )
    chunks = characters = 0
    hits = []
    for path in files:
        for where, text in _file_texts(path):
            chunks += 1
            characters += len(text)
            folded = fold(text)
            for match in pattern.finditer(folded):
                context = folded[max(0, match.start() - 30) : match.end() + 30]
                hits.append(Hit(path, where, match.group(0), context))
    return Scan(files, chunks, characters, hits)


# the pipeline run ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.at(tmp_path_factory.mktemp("privacy") / "study")
    init_workspace(ws, sample=True)
    for stage in STAGES:
        stage(ws, load_config(ws))
    return ws


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def forbidden_names(ws: Workspace) -> set[str]:
    participants = [r for r in _rows(ws.speaker_key) if r["role"] == "participant"]
    listed = [r["name"] for r in _rows(ws.names)]
    # guard against a vacuous test: participants in every recording, and a names list
    recordings = {r["recording_id"] for r in _rows(ws.manifest)}
    assert {r["recording_id"] for r in participants} == recordings
    assert listed
    return {r["label"] for r in participants} | set(listed)


def public_folders(ws: Workspace) -> list[Path]:
    return [ws.interim, ws.processed, ws.reports, ws.exports]


# tests ---------------------------------------------------------------------------------------


def test_no_name_survives_in_any_output(sample: Workspace) -> None:
    names = forbidden_names(sample)
    result = scan(public_folders(sample), whole_word_pattern(names))
    scanned = {p.relative_to(sample.root).as_posix() for p in result.files}
    assert len(result.files) >= 5
    assert {
        "data/interim/segments.parquet",
        "data/interim/words.parquet",
        "data/interim/tokens.parquet",
        "data/interim/sentences.parquet",
        "reports/round-1/index.html",
        "exports/round-1/segments.xlsx",
        "exports/round-1/digitalisering-cohesie-round-1.qdpx",
        "exports/subtitles/burgers.vtt",
    } <= scanned
    assert any(s.startswith("data/processed/") for s in scanned)
    assert result.characters > 10_000
    assert [str(hit) for hit in result.hits] == []


def test_names_were_there_to_begin_with(sample: Workspace) -> None:
    """The raw and private import data do contain the names: the scan can see them."""
    names = forbidden_names(sample)
    pattern = whole_word_pattern(names)
    before = scan([sample.private / "import"], pattern)
    assert len(before.hits) >= len(names) // 2
    assert len({hit.match for hit in before.hits}) >= 5


def test_scanner_detects_planted_controls(tmp_path: Path) -> None:
    pattern = whole_word_pattern({"Zoë", "Thijs van 't Hof", "Joris Brûlé", "Ellen", "Daan"})
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.html").write_text("<p>Dank je, Thijs van &#39;t Hof.</p>", encoding="utf-8")
    (folder / "b.json").write_text(json.dumps({"x": "ZOË kwam"}), encoding="utf-8")
    (folder / "c.csv").write_text("id,text\n1,meneer Joris  BRULE zei\n", encoding="utf-8")
    tokens = pa.table(
        {
            "segment_id": ["s1", "s1", "s1", "s1"],
            "text": ["Joris", unicodedata.normalize("NFD", "Brûlé"), "en", "x"],
            "n": [1, 2, 3, 4],
        }
    )
    pq.write_table(tokens, folder / "d.parquet")
    innocent = "onderzoek huisbezoeken bellen stellen vandaan"
    (folder / "e.txt").write_text(innocent, encoding="utf-8")
    pd.DataFrame({"text": ["Daarna zei Ellen iets"]}).to_excel(folder / "f.xlsx", index=False)
    with zipfile.ZipFile(folder / "g.qdpx", "w") as archive:
        archive.writestr("project.qde", '<Note name="Daan &amp; co"/>')

    result = scan([folder], pattern)
    assert len(result.files) == 7
    assert sorted({hit.path.name for hit in result.hits}) == [
        "a.html",
        "b.json",
        "c.csv",
        "d.parquet",
        "f.xlsx",
        "g.qdpx",
    ]
    assert {hit.match for hit in result.hits} == {
        "thijs van 't hof",
        "zoe",
        "joris  brule",
        "joris brule",
        "ellen",
        "daan",
    }
    assert not pattern.search(fold(innocent))


def test_report_withholds_segment_text_by_default(sample: Workspace) -> None:
    assert load_config(sample).report.quotes is False
    page = html.unescape((sample.report_dir(1) / "index.html").read_text(encoding="utf-8"))
    segments = pq.read_table(sample.segments).to_pandas()
    longest = sorted(segments["text"], key=len, reverse=True)[:20]
    assert len(longest) == 20 and min(map(len, longest)) > 60
    assert [t for t in longest if t in page] == []
    representatives = _representative_texts(sample)
    assert representatives
    assert [t for t in representatives if t in page] == []


def _representative_texts(ws: Workspace) -> list[str]:
    """Texts of the segments the report cites: topic and theme representatives."""
    topics = pq.read_table(ws.topics(1)).to_pandas()
    ids = [s for cell in topics["representative_segments"] for s in cell.split("; ") if s]
    themes = json.loads((ws.report_dir(1) / "themes.json").read_text(encoding="utf-8"))
    cited = [r["segment_id"] for t in themes["themes"] for r in t["representatives"]]
    assert cited  # the theme section cites segments, so the check below is not vacuous
    ids += cited
    segments = pq.read_table(ws.segments).to_pandas().set_index("segment_id")
    return [segments.at[s, "text"] for s in ids]


def test_report_quotes_pseudonymised_text_when_switched_on(
    sample: Workspace, tmp_path: Path
) -> None:
    ws = Workspace.at(tmp_path / "copy")
    shutil.copytree(sample.root, ws.root)
    config = yaml.safe_load(ws.config_file.read_text(encoding="utf-8"))
    config["report"] = {**config.get("report", {}), "quotes": True}
    ws.config_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    assert load_config(ws).report.quotes is True

    report = run_report(ws, load_config(ws))
    page = html.unescape(report.path.read_text(encoding="utf-8"))
    quoted = _representative_texts(ws)
    assert quoted
    assert [t for t in quoted if t not in page] == []
    # the quotes are pseudonymised: nothing the scan forbids appears in the new report either
    result = scan([ws.reports], whole_word_pattern(forbidden_names(ws)))
    assert result.files
    assert [str(hit) for hit in result.hits] == []
