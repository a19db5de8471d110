"""``cda export qdpx`` / ``cda import qdpx``: REFI-QDA projects out to QDA tools and back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import wave
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from helpers import sample_through_nlp
from refi_structure import problems

from pipeline.codings.refi import PROJECT_NS, code_guid, transcript
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import frame_of, read_table, write_table
from pipeline.core.schemas import CODINGS, SEGMENTS
from pipeline.export.qdpx import write_qdpx
from pipeline.importers.qdpx import import_qdpx, locate, read_archive

CDA = str(Path(sys.executable).with_name("cda"))
Q = {"q": PROJECT_NS}
KEY = ["segment_id", "coder", "code", "span_start", "span_end", "span_text", "memo"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return sample_through_nlp(tmp_path_factory.mktemp("qdpx") / "ws")


@pytest.fixture
def ws(sample, tmp_path):
    """A private copy of the sample, so each test owns its codings."""
    target = tmp_path / "ws"
    shutil.copytree(sample.root, target)
    return type(sample).at(target)


def _segments(ws) -> pd.DataFrame:
    return read_table(ws.segments, SEGMENTS).set_index("segment_id")


def _coded(ws) -> pd.DataFrame:
    """Two coders' codings of the sample: whole segments, spans, memos, a code the codebook
    lacks, an adjudication and a skipped task (which has nothing to export)."""
    seg = _segments(ws)
    t2, t4 = seg.loc["burgers-0002", "text"], seg.loc["burgers-0004", "text"]
    s = t4.index("overheid")
    rows = [
        dict(segment_id="burgers-0002", coder="A", code="havenots", memo="DigiD-hulp"),
        dict(segment_id="burgers-0002", coder="A", code="digitale-kloof", memo="DigiD-hulp"),
        dict(segment_id="burgers-0002", coder="B", code="havenots",
             updated_at="2026-11-20T10:00:00.123456Z"),
        dict(segment_id="burgers-0004", coder="A", code="vertrouwen-overheid", span_start=s,
             span_end=s + 8, span_text="overheid"),
        dict(segment_id="burgers-0004", coder="B", code="oud-thema", span_start=0,
             span_end=len(t4) - 1, span_text=t4[:-1]),
        dict(segment_id="deskundigen-0003", coder="B", status="empty", code=None,
             memo="Twijfel: geen code?"),
        dict(segment_id="deskundigen-0004", coder="B", status="skipped", code=None),
        dict(segment_id="deskundigen-0005", coder="adjudication", code="china-dystopie"),
    ]  # fmt: skip
    assert t2  # the sample has these segments
    frame = frame_of(rows, CODINGS, origin="labelstudio")
    frame["status"] = frame["status"].fillna("coded")
    frame["in_codebook"] = frame["code"].isna() | (frame["code"] != "oud-thema")
    return frame


def _project(path: Path) -> tuple[ET.Element, zipfile.ZipFile]:
    zf = zipfile.ZipFile(path)
    return ET.fromstring(zf.read("project.qde")), zf


# export -----------------------------------------------------------------------------------------


def test_export_follows_the_refi_project_structure_and_places_every_coding(ws):
    config = load_config(ws)
    codings = _coded(ws)
    # a form feed pasted into a memo: not allowed in XML 1.0, so it must not reach the file
    codings["memo"] = codings["memo"].replace("DigiD-hulp", "DigiD-hulp\x0c")
    write_table(codings, CODINGS, ws.codings(1))
    path = write_qdpx(ws, config, 1)
    first = path.read_bytes()
    assert write_qdpx(ws, config, 1) == path and path.read_bytes() == first  # byte-stable

    root, zf = _project(path)
    assert problems(root, set(zf.namelist())) == []
    users = {u.get("name"): u.get("guid") for u in root.iterfind("q:Users/q:User", Q)}
    assert set(users) == {"A", "B", "adjudication"}
    # the codebook's hierarchy, plus the code the codebook lacks, at the top level
    kloof = root.find(f".//q:Code[@guid='{code_guid(config.study, 'digitale-kloof')}']", Q)
    assert {c.get("name") for c in kloof.findall("q:Code", Q)} >= {"Havenots (geen toegang)"}
    assert root.find("q:CodeBook/q:Codes/q:Code[@name='oud-thema']", Q) is not None

    seg = _segments(ws)
    sources = {s.get("name"): s for s in root.iterfind("q:Sources/q:TextSource", Q)}
    assert set(sources) == set(seg["recording_id"])
    burgers = sources["burgers"]
    text = zf.read(f"sources/{burgers.get('plainTextPath').removeprefix('internal://')}").decode()
    assert text == transcript(seg.reset_index().query("recording_id == 'burgers'"))[0]
    assert "P01 [0:00:51]: " + seg.loc["burgers-0002", "text"] + "\n" in text
    names = set(read_table(ws.imported_segments, SEGMENTS)["speaker"]) - set(seg["speaker"])
    assert names and not any(name in text for name in names)  # pseudonymised

    selected = {}
    for sel in burgers.iterfind("q:PlainTextSelection", Q):
        user = next(n for n, g in users.items() if g == sel.get("creatingUser"))
        quote = text[int(sel.get("startPosition")) : int(sel.get("endPosition"))]
        refs = [c.find("q:CodeRef", Q).get("targetGUID") for c in sel.iterfind("q:Coding", Q)]
        selected[(user, quote)] = refs
    whole = seg.loc["burgers-0002", "text"]
    assert selected[("A", whole)] == [
        code_guid(config.study, "havenots"), code_guid(config.study, "digitale-kloof")
    ]  # fmt: skip
    assert selected[("B", whole)] == [code_guid(config.study, "havenots")]
    assert selected[("A", "overheid")] == [code_guid(config.study, "vertrouwen-overheid")]
    assert len(selected) == 4  # A's two codes on 0002 share one selection
    # A's memo: a Note referenced from A's selection of the whole segment
    (note,) = [
        n
        for n in root.iterfind("q:Notes/q:Note", Q)
        if "DigiD" in n.findtext("q:PlainTextContent", "", Q)
    ]
    a_sel = [
        s
        for s in burgers.iterfind("q:PlainTextSelection", Q)
        if s.get("creatingUser") == users["A"] and s.find("q:NoteRef", Q) is not None
    ]
    assert a_sel[0].find("q:NoteRef", Q).get("targetGUID") == note.get("guid")
    assert note.findtext("q:PlainTextContent", "", Q) == "DigiD-hulp"
    # a memo without codes still travels, on a selection without codings
    lone = [s for s in sources["deskundigen"].iterfind("q:PlainTextSelection", Q)
            if s.find("q:Coding", Q) is None]  # fmt: skip
    assert len(lone) == 1 and lone[0].find("q:NoteRef", Q) is not None
    group = sources["deskundigen"].find("q:VariableValue/q:TextValue", Q).text
    assert group == seg.loc["deskundigen-0003", "group"]


def test_audio_is_only_exported_on_request_and_synchronised_per_turn(ws, caplog):
    config = load_config(ws)
    plain = write_qdpx(ws, config, 1)
    assert [n for n in zipfile.ZipFile(plain).namelist() if n.endswith(".wav")] == []
    with pytest.raises(CdaError, match="no extracted audio"):
        write_qdpx(ws, config, 1, audio=True)
    ws.audio_dir.mkdir(parents=True, exist_ok=True)
    with wave.open(str(ws.wav("burgers")), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes(b"\0\0" * 1600)

    root, zf = _project(write_qdpx(ws, config, 1, audio=True))

    assert problems(root, set(zf.namelist())) == []
    (audio,) = root.iterfind("q:Sources/q:AudioSource", Q)
    assert zf.read(f"sources/{audio.get('path').removeprefix('internal://')}") == (
        ws.wav("burgers").read_bytes()
    )
    seg = _segments(ws)
    burgers = seg[seg["recording_id"] == "burgers"]
    points = audio.findall("q:Transcript/q:SyncPoint", Q)
    assert len(points) == burgers["start"].notna().sum() + burgers["end"].notna().sum()
    text = zf.read("sources/" + audio.find("q:Transcript", Q).get("plainTextPath")[11:]).decode()
    # the sync point at a turn's start sits where its text begins, at its time in ms
    # and 0001's end, at the same moment, where its text ends
    end, start = sorted(int(p.get("position")) for p in points if p.get("timeStamp") == "51000")
    assert text[start:].startswith(seg.loc["burgers-0002", "text"])
    assert text[:end].endswith(seg.loc["burgers-0001", "text"])
    assert "no extracted audio for deskundigen" in caplog.text
    # the study's setting decides for `make export`; the flag overrides it
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write("export:\n  audio: true\n")
    for flags, expected in (([], 1), (["--no-audio"], 0)):
        assert cda(ws, ["export", "qdpx", *flags]).returncode == 0
        root, _ = _project(plain)
        assert len(root.findall("q:Sources/q:AudioSource", Q)) == expected


# round trip -------------------------------------------------------------------------------------


def test_export_then_import_preserves_every_coded_span_code_and_memo(ws):
    config = load_config(ws)
    original = _coded(ws)
    write_table(original, CODINGS, ws.codings(1))
    archive = write_qdpx(ws, config, 1)
    ws.codings(1).unlink()

    result = import_qdpx(ws, config, archive, 1)

    back = read_table(ws.codings(1), CODINGS)
    assert result.written and set(back["origin"]) == {f"qdpx:{archive.name}"}
    expected = original[original["status"] != "skipped"]  # a skip is not a coding

    def rows(frame):
        values = frame[KEY].astype(object).where(frame[KEY].notna(), None).values
        return sorted(map(tuple, values), key=str)

    assert rows(back) == rows(expected)
    assert not back[back["code"] == "oud-thema"]["in_codebook"].any()
    assert back[back["coder"] == "B"]["updated_at"].dropna().tolist() == [
        "2026-11-20T10:00:00.123456Z"
    ]
    # and the imported round exports to the same project again
    before = _project(archive)[0].findall(".//q:PlainTextSelection", Q)
    after = _project(write_qdpx(ws, config, 1))[0].findall(".//q:PlainTextSelection", Q)
    assert [s.attrib for s in after] == [s.attrib for s in before]


# a project written by another tool ---------------------------------------------------------------

USER_ANNA = "0AF4C1B8-36C0-4B0B-9E6F-0D5A1F2C3B4D"
USER_BART = "1B2C3D4E-5F60-4718-89AB-CDEF01234567"
SOURCE = "7E1D8C2A-4B3F-4A5E-9C6D-1F2E3D4C5B6A"
CODES = {  # another tool's GUIDs; names match labels, an id, or nothing in our codebook
    "kloof": ("A1B2C3D4-0000-4000-8000-000000000001", "Digitale kloof (typologie)"),
    "have": ("A1B2C3D4-0000-4000-8000-000000000002", "havenots"),
    "china": ("A1B2C3D4-0000-4000-8000-000000000003", "  china als technologische DYSTOPIE "),
    "eigen": ("A1B2C3D4-0000-4000-8000-000000000004", "Zelfredzaamheid"),
}


def _other_tool_text(seg: pd.DataFrame) -> str:
    """The burgers transcript as another tool lays it out: speaker on its own line, Windows
    line breaks, and the turn's text re-wrapped with other whitespace."""
    parts = []
    for row in seg[seg["recording_id"] == "burgers"].sort_values("start").itertuples():
        wrapped = row.text.replace(". ", ".\r\n", 1)  # a line break inside the turn
        parts.append(f"Spreker {row.speaker}\r\n{wrapped}\r\n\r\n")
    return "".join(parts)


def _other_tool_archive(path: Path, seg: pd.DataFrame, *, qde: str | None = None) -> Path:
    text = _other_tool_text(seg)
    t2, t3 = seg.loc["burgers-0002", "text"], seg.loc["burgers-0003", "text"]
    wrapped2 = t2.replace(". ", ".\r\n", 1)
    at2 = text.index(wrapped2)
    span = "DigiD"
    at_span = at2 + wrapped2.index(span)
    at3 = text.index(t3.split(".")[0])
    label = text.index("Spreker P01")
    # a selection from the middle of 0002 into 0003 (crosses the speaker line between them)
    cross_start = at2 + wrapped2.index("Daar")
    cross_end = at3 + len(t3.split(".")[0])
    selections = f"""
      <PlainTextSelection guid="5A000000-0000-4000-8000-000000000001" name="Hulp"
          startPosition="{at2}" endPosition="{at2 + len(wrapped2)}" creatingUser="{USER_ANNA}"
          creationDateTime="2026-11-01T09:30:00Z">
        <Description>Kern van het betoog</Description>
        <Coding guid="5B000000-0000-4000-8000-000000000001" creatingUser="{USER_ANNA}">
          <CodeRef targetGUID="{CODES["kloof"][0]}"/>
        </Coding>
        <Coding guid="5B000000-0000-4000-8000-000000000002" creatingUser="{USER_ANNA}">
          <CodeRef targetGUID="{CODES["eigen"][0].lower()}"/>
          <NoteRef targetGUID="{{9C000000-0000-4000-8000-000000000001}}"/>
        </Coding>
      </PlainTextSelection>
      <PlainTextSelection guid="5A000000-0000-4000-8000-000000000002" name="DigiD"
          startPosition="{at_span}" endPosition="{at_span + len(span)}" creatingUser="{USER_BART}">
        <Coding guid="5B000000-0000-4000-8000-000000000003" creatingUser="{USER_BART}">
          <CodeRef targetGUID="{CODES["have"][0]}"/>
        </Coding>
      </PlainTextSelection>
      <PlainTextSelection guid="5A000000-0000-4000-8000-000000000003" name="Overgang"
          startPosition="{cross_start}" endPosition="{cross_end}" creatingUser="{USER_BART}">
        <Coding guid="5B000000-0000-4000-8000-000000000004" creatingUser="{USER_BART}">
          <CodeRef targetGUID="{CODES["china"][0]}"/>
        </Coding>
      </PlainTextSelection>
      <PlainTextSelection guid="5A000000-0000-4000-8000-000000000004" name="Sprekerlabel"
          startPosition="{label}" endPosition="{label + 11}" creatingUser="{USER_BART}">
        <Coding guid="5B000000-0000-4000-8000-000000000005" creatingUser="{USER_BART}">
          <CodeRef targetGUID="{CODES["have"][0]}"/>
        </Coding>
      </PlainTextSelection>"""
    qde = (
        qde
        or f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Digitalisering (MAXQDA)" origin="MAXQDA 2024"
    creatingUserGUID="{USER_ANNA}">
  <Users>
    <User guid="{USER_ANNA}" name="Anna"/>
    <User guid="{USER_BART}" id="bart"/>
  </Users>
  <CodeBook>
    <Codes>
      <Code guid="{CODES["kloof"][0]}" name="{CODES["kloof"][1]}" isCodable="true">
        <Code guid="{CODES["have"][0]}" name="{CODES["have"][1]}" isCodable="true"/>
      </Code>
      <Code guid="{CODES["china"][0]}" name="{CODES["china"][1]}" isCodable="true"/>
      <Code guid="{CODES["eigen"][0]}" name="{CODES["eigen"][1]}" isCodable="true"/>
    </Codes>
  </CodeBook>
  <Sources>
    <TextSource guid="{SOURCE}" name="Workshop burgers.docx" plainTextPath="internal://{SOURCE}.txt"
        richTextPath="internal://{SOURCE}.docx">
      {selections}
    </TextSource>
    <PDFSource guid="8D000000-0000-4000-8000-000000000001" name="Folder.pdf" path="internal://x.pdf"/>
  </Sources>
  <Notes>
    <Note guid="9C000000-0000-4000-8000-000000000001" name="Memo" creatingUser="{USER_ANNA}">
      <PlainTextContent>Eigen kracht als norm</PlainTextContent>
    </Note>
  </Notes>
</Project>
"""
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", qde)
        zf.writestr(f"sources/{SOURCE}.txt", "\ufeff" + text)  # with a byte-order mark
    return path


def test_a_project_made_by_another_tool_imports_onto_the_right_segments(ws, tmp_path):
    seg = _segments(ws)
    archive = _other_tool_archive(tmp_path / "maxqda.qdpx", seg)
    result = cda(ws, ["import", "qdpx", str(archive), "--round", "1"])
    assert result.returncode == 0, result.stderr
    assert "imported 5 coding(s) (Anna: 2, bart: 3) and 1 memo(s)" in result.stdout
    assert "1 coded selection(s) lie outside every segment's text" in result.stderr
    assert "Folder.pdf" not in result.stderr  # it holds no codings

    back = read_table(ws.codings(1), CODINGS)
    t2, t3 = seg.loc["burgers-0002", "text"], seg.loc["burgers-0003", "text"]
    got = {(r.segment_id, r.coder, r.code): r for r in back.itertuples()}
    # Anna's selection of the whole (re-wrapped) turn: whole-segment codes, mapped by label
    # and by nothing (kept under the other tool's name), with her memo and the description
    anna = got[("burgers-0002", "Anna", "digitale-kloof")]
    assert pd.isna(anna.span_start) and anna.updated_at == "2026-11-01T09:30:00Z"
    assert anna.memo == "Eigen kracht als norm\nKern van het betoog"
    eigen = got[("burgers-0002", "Anna", "Zelfredzaamheid")]
    assert not eigen.in_codebook and eigen.memo == anna.memo
    # Bart (a user with an id only): a span, in the segment's own offsets
    digid = got[("burgers-0002", "bart", "havenots")]
    assert t2[int(digid.span_start) : int(digid.span_end)] == "DigiD" == digid.span_text
    # his selection across two turns codes the end of one and the start of the next
    end2 = got[("burgers-0002", "bart", "china-dystopie")]
    assert end2.span_text == t2[t2.index("Daar") :] and end2.span_end == len(t2)
    start3 = got[("burgers-0003", "bart", "china-dystopie")]
    assert start3.span_start == 0 and start3.span_text == t3.split(".")[0]
    assert len(back) == 5 and set(back["origin"]) == {"qdpx:maxqda.qdpx"}


def cda(ws, args: list[str]) -> subprocess.CompletedProcess:
    """Run the real CLI (``cda import qdpx ...``) in the workspace."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
    return subprocess.run(
        [CDA, *args, "-w", str(ws.root)],
        capture_output=True, text=True, env={**env, "COLUMNS": "200"}, check=False,
    )  # fmt: skip


def test_segments_are_found_in_order_despite_other_whitespace():
    segments = pd.DataFrame(
        {
            "segment_id": ["a", "b", "c"],
            "start": [0.0, 1.0, 2.0],
            "text": ["Ja.", "Nee  dus.", "Ja."],
        }
    )
    placed = locate("X: Ja.\nY: Nee\n dus.\nX: Ja.\n", segments)
    assert [(p.segment_id, p.start, p.end) for p in placed] == [
        ("a", 3, 6), ("b", 10, 19), ("c", 23, 26)
    ]  # fmt: skip


# coders, rounds and refusals ----------------------------------------------------------------------


def test_reimport_replaces_the_coders_earlier_import_and_label_studio_coders_are_refused(
    ws, tmp_path
):
    config = load_config(ws)
    seg = _segments(ws)
    archive = _other_tool_archive(tmp_path / "maxqda.qdpx", seg)
    import_qdpx(ws, config, archive, 1, coder="C")
    first = read_table(ws.codings(1), CODINGS)
    assert set(first["coder"]) == {"C"} and len(first) == 5

    # coder A has a Label Studio project in this round: their codings belong to the pull
    ws.ls_state(1).parent.mkdir(parents=True, exist_ok=True)
    ws.ls_state(1).write_text('{"A": 12}\n', encoding="utf-8")
    with pytest.raises(CdaError, match="coder\\(s\\) A code round 1 in Label Studio"):
        import_qdpx(ws, config, archive, 1, coder="A")
    assert read_table(ws.codings(1), CODINGS).equals(first)

    again = import_qdpx(ws, config, archive, 1, coder="C")
    assert again.replaced == 5 and not again.written  # the same archive: same rows


def test_closed_round_refuses_a_changing_import(ws, tmp_path):
    from pipeline.codebook import set_state

    config = load_config(ws)
    set_state(ws, config, 1, "coding")
    set_state(ws, config, 1, "closed")
    write_table(_coded(ws), CODINGS, ws.codings(1))
    before = ws.codings(1).read_bytes()
    archive = _other_tool_archive(tmp_path / "maxqda.qdpx", _segments(ws))
    with pytest.raises(CdaError, match="round 1 is closed"):
        import_qdpx(ws, config, archive, 1, coder="C")
    assert ws.codings(1).read_bytes() == before
    assert import_qdpx(ws, config, archive, 1, coder="C", force=True).written


# bad archives ----------------------------------------------------------------------------------


def _zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _mutated(seg, tmp_path, *edits: tuple[str, str], count: int = 1) -> Path:
    """The other tool's archive with ``(old, new)`` edits to its project.qde."""
    good = _other_tool_archive(tmp_path / "good.qdpx", seg)
    with zipfile.ZipFile(good) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    qde = files["project.qde"].decode()
    for old, new in edits:
        assert old in qde
        qde = qde.replace(old, new, count)
    files["project.qde"] = qde
    return _zip(tmp_path / "bad.qdpx", files)


BAD = {
    "not-zip": (lambda seg, tmp: (tmp / "bad.qdpx").write_text("PK? no") and tmp / "bad.qdpx",
                "not a QDPX archive (not a zip file)"),
    "no-qde": (lambda seg, tmp: _zip(tmp / "bad.qdpx", {"sources/x.txt": "tekst"}),
               "has no project.qde at its root"),
    "broken-xml": (lambda seg, tmp: _mutated(seg, tmp, ("</Users>", "</User>")),
                   "project.qde is not well-formed XML (line"),
    "wrong-root": (lambda seg, tmp: _zip(tmp / "bad.qdpx", {"project.qde": "<CodeBook/>"}),
                   "is not a REFI-QDA project (root element CodeBook"),
    "dangling-code": (lambda seg, tmp: _mutated(seg, tmp, (f'targetGUID="{CODES["have"][0]}"',
                                                'targetGUID="DEADBEEF-0000-4000-8000-000000000000"')),
                      "refers to code DEADBEEF-0000-4000-8000-000000000000, which is not in"),
    "outside-text": (lambda seg, tmp: _mutated(seg, tmp, ('endPosition="', 'endPosition="9999999')),
                     "lie outside its text"),
    "not-a-number": (lambda seg, tmp: _mutated(seg, tmp, ('startPosition="', 'startPosition="x')),
                     "is not a whole number"),
    "missing-source": (lambda seg, tmp: _mutated(seg, tmp, (f'plainTextPath="internal://{SOURCE}.txt"',
                                                  'plainTextPath="internal://elders.txt"')),
                       "its text sources/elders.txt is missing from the archive"),
    "no-user": (lambda seg, tmp: _mutated(seg, tmp, (f'creatingUserGUID="{USER_ANNA}"', ""),
                                          (f'creatingUser="{USER_BART}"', ""), count=-1),
                "names no user, so its coder is unknown"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_archives_get_clear_errors_and_change_nothing(ws, tmp_path, case):
    make, message = BAD[case]
    write_table(_coded(ws), CODINGS, ws.codings(1))
    before = ws.codings(1).read_bytes()
    archive = make(_segments(ws), tmp_path)
    with pytest.raises(CdaError) as info:
        import_qdpx(ws, load_config(ws), archive, 1)
    assert message in info.value.message and str(archive) in info.value.message
    assert info.value.hint
    assert ws.codings(1).read_bytes() == before


def test_cli_names_the_archive_and_shows_no_traceback(ws, tmp_path):
    bad = tmp_path / "kapot.qdpx"
    bad.write_bytes(b"not a zip")
    result = cda(ws, ["import", "qdpx", str(bad), "--round", "1"])
    assert result.returncode == 2
    assert "kapot.qdpx: not a QDPX archive" in result.stderr and "Traceback" not in result.stderr
    wrong = cda(ws, ["import", str(bad.with_suffix(".qdpx"))])
    assert wrong.returncode == 2 and "cda import qdpx" in wrong.stderr


def test_read_archive_reads_inline_text_and_skips_sources_outside_the_archive(tmp_path):
    qde = f"""<?xml version="1.0"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="p">
  <CodeBook><Codes><Code guid="{CODES["have"][0]}" name="x" isCodable="true"/></Codes></CodeBook>
  <Sources>
    <TextSource guid="{SOURCE}" name="inline"><PlainTextContent>Hallo daar</PlainTextContent>
      <PlainTextSelection guid="5A000000-0000-4000-8000-000000000009" startPosition="0"
          endPosition="5"><Coding guid="5B000000-0000-4000-8000-000000000009">
          <CodeRef targetGUID="{CODES["have"][0]}"/></Coding></PlainTextSelection>
    </TextSource>
    <TextSource guid="{USER_ANNA}" name="extern" plainTextPath="C:\\\\data\\\\extern.txt"/>
  </Sources>
</Project>"""
    archive = read_archive(_zip(tmp_path / "p.qdpx", {"project.qde": qde}))
    assert archive.texts == {"inline": "Hallo daar"}
    assert [(s.start, s.end) for s in archive.selections] == [(0, 5)]
    assert archive.skipped_sources == ["extern (its text is outside the archive)"]
