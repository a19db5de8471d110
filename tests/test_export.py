"""``cda export csv|srt|vtt``: spreadsheet and subtitle exports, pseudonymised."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import sample_through_nlp

from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import frame_of, read_table, write_table
from pipeline.core.schemas import CODINGS, SEGMENTS
from pipeline.export import subtitles, write_csv, write_subtitles
from pipeline.suggest import run_suggest

TURNS = pd.DataFrame(
    [
        ("r-0001", "P02", 3723.5, 3725.25, "Eerst dit."),
        ("r-0000", "F01", 0.0, 1.5, "Welkom allemaal."),
        ("r-0002", "P03", None, None, "Zonder tijd."),
        ("r-0003", "P03", 3726.0, 3727.0, "Twee\n\nalinea's --> één cue."),
    ],
    columns=["segment_id", "speaker", "start", "end", "text"],
)


def test_srt_and_vtt_cues_by_hand():
    assert subtitles(TURNS, "srt") == (
        "1\n00:00:00,000 --> 00:00:01,500\nF01: Welkom allemaal.\n\n"
        "2\n01:02:03,500 --> 01:02:05,250\nP02: Eerst dit.\n\n"
        "3\n01:02:06,000 --> 01:02:07,000\nP03: Twee alinea's → één cue.\n"
    )
    assert subtitles(TURNS, "vtt") == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nF01: Welkom allemaal.\n\n"
        "01:02:03.500 --> 01:02:05.250\nP02: Eerst dit.\n\n"
        "01:02:06.000 --> 01:02:07.000\nP03: Twee alinea's → één cue.\n"
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    ws = sample_through_nlp(tmp_path_factory.mktemp("export") / "ws")
    run_suggest(ws, load_config(ws), round_no=1)
    return ws


def test_csv_before_any_coding_or_suggestion_has_empty_code_columns(tmp_path):
    ws = sample_through_nlp(tmp_path / "ws")
    table = pd.read_csv(write_csv(ws, load_config(ws), 1), keep_default_na=False)
    assert len(table) == len(read_table(ws.segments, SEGMENTS))
    assert (table["codes"] == "").all() and (table["suggested"] == "").all()


def test_csv_separates_settled_codes_each_coders_codes_and_suggestions(sample):
    segments = read_table(sample.segments, SEGMENTS)
    first, second, third, fourth, fifth = segments["segment_id"].iloc[1:6]
    rows = [
        (first, "A", "havenots", "coded"), (first, "B", "china-dystopie", "coded"),
        (second, "A", "china-dystopie", "coded"), (second, "adjudication", "wantnots", "coded"),
        (third, "A", "cannots", "coded"), (third, "B", None, "empty"),
        (fourth, "A", "cannots", "coded"), (fourth, "B", "cannots", "coded"),
        (fifth, "A", None, "empty"), (fifth, "B", None, "skipped"),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["segment_id", "coder", "code", "status"])
    frame = frame_of(frame, CODINGS, in_codebook=True, origin="labelstudio")
    write_table(frame, CODINGS, sample.codings(1))

    table = pd.read_csv(write_csv(sample, load_config(sample), 1), keep_default_na=False)
    assert len(table) == len(segments)
    assert list(table.columns)[-5:] == [
        "unresolved", "codes:A", "codes:B", "codes:adjudication", "suggested",
    ]  # fmt: skip
    by_id = table.set_index("segment_id")
    # A and B disagree on both codes of the first segment (havenots rolls up into
    # digitale-kloof and winnaars-verliezers, as in the report): nothing settled, all unresolved
    assert by_id.loc[first, "codes"] == ""
    assert by_id.loc[first, "unresolved"] == (
        "winnaars-verliezers; digitale-kloof; havenots; china-dystopie"  # codebook order
    )
    assert (by_id.loc[first, "codes:A"], by_id.loc[first, "codes:B"]) == (
        "havenots", "china-dystopie",
    )  # fmt: skip
    # the adjudication settled the second: its wantnots, with the themes above it
    assert by_id.loc[second, "codes"] == "winnaars-verliezers; digitale-kloof; wantnots"
    assert by_id.loc[second, "codes:adjudication"] == "wantnots"
    assert by_id.loc[third, "codes:B"] == "(no code)"  # a deliberate "no code" is visible
    assert by_id.loc[third, "unresolved"] == "winnaars-verliezers; digitale-kloof; cannots"
    assert by_id.loc[fourth, "codes"] == "winnaars-verliezers; digitale-kloof; cannots"  # both
    assert by_id.loc[fifth, ["codes:A", "codes:B"]].tolist() == ["(no code)", "(skipped)"]
    assert (table["suggested"] != "").any() and (table["codes"] == "").sum() == len(table) - 2
    union = load_config(sample).model_copy(
        update={"report": load_config(sample).report.model_copy(update={"coding_basis": "union"})}
    )
    pooled = pd.read_csv(write_csv(sample, union, 1), keep_default_na=False).set_index("segment_id")
    assert pooled.loc[first, "codes"] == (
        "winnaars-verliezers; digitale-kloof; havenots; china-dystopie"
    )
    originals = set(read_table(sample.imported_segments, SEGMENTS)["speaker"])
    originals -= set(segments["speaker"])
    assert originals and set(table["speaker"]).isdisjoint(originals)


def test_subtitle_files_use_pseudonyms_and_refuse_untimed_transcripts(sample, tmp_path):
    paths = write_subtitles(sample, "vtt")
    segments = read_table(sample.segments, SEGMENTS)
    assert sorted(p.stem for p in paths) == sorted(segments["recording_id"].unique())
    text = paths[0].read_text()
    assert text.startswith("WEBVTT\n") and "\nP0" in text
    private = read_table(sample.imported_segments, SEGMENTS)
    originals = set(private["speaker"]) - set(segments["speaker"])
    assert originals and not any(f"\n{name}:" in text for name in originals)

    untimed = segments.assign(start=None, end=None, overlap=None)
    write_table(untimed, SEGMENTS, sample.segments)
    try:
        with pytest.raises(CdaError, match=r"no recording .* has timed segments"):
            write_subtitles(sample, "srt")
    finally:
        write_table(segments, SEGMENTS, sample.segments)


def test_qdc_nests_codes_under_their_parents_with_stable_guids(sample):
    import re
    import xml.etree.ElementTree as ET

    from pipeline.codebook import load_round
    from pipeline.codings.refi import CODEBOOK_NS as QDC_NS
    from pipeline.codings.refi import code_guid
    from pipeline.export import write_qdc

    config = load_config(sample)
    path = write_qdc(sample, config, 1)
    first = path.read_bytes()
    assert write_qdc(sample, config, 1) == path and path.read_bytes() == first  # stable
    root = ET.parse(path).getroot()
    ns = {"q": QDC_NS}
    assert root.tag == f"{{{QDC_NS}}}CodeBook" and root.get("origin").startswith("cda-pipeline")
    book = load_round(sample, config, 1).book
    codes = root.findall(".//q:Code", ns)
    assert len(codes) == len(book.codes)
    guids = [c.get("guid") for c in codes]
    assert len(set(guids)) == len(guids)
    assert all(re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", g) for g in guids)
    kloof = root.find(f".//q:Code[@guid='{code_guid(config.study, 'digitale-kloof')}']", ns)
    children = {c.get("name") for c in kloof.findall("q:Code", ns)}
    assert children == {c.label for c in book.codes if c.parent == "digitale-kloof"}
    top = {c.get("name") for c in root.findall("q:Codes/q:Code", ns)}
    assert top == {c.label for c in book.codes if c.parent is None}
    # Description comes first in a Code (the schema's sequence), then the sub-codes
    assert kloof[0].tag == f"{{{QDC_NS}}}Description"
    china = next(c for c in book.codes if c.id == "china-dystopie")
    china_xml = root.find(f".//q:Code[@name='{china.label}']", ns)
    assert china_xml.find("q:Description", ns).text.startswith(china.description.strip())


def test_xlsx_has_segments_codings_and_codebook_sheets(sample):
    from pipeline.codebook import load_round
    from pipeline.export import write_xlsx

    config = load_config(sample)
    segments = read_table(sample.segments, SEGMENTS)
    first = segments["segment_id"].iloc[1]
    rows = [dict(segment_id=first, coder="A", code="havenots", span_start=0, span_end=5,
                 span_text=segments["text"].iloc[1][:5]),
            dict(segment_id=first, coder="B", status="skipped")]  # fmt: skip
    frame = frame_of(rows, CODINGS, in_codebook=True, origin="labelstudio")
    frame["status"] = frame["status"].fillna("coded")
    frame.loc[0, "memo"] = '=HYPERLINK("http://x")'  # text, never a formula
    write_table(frame, CODINGS, sample.codings(1))

    path = write_xlsx(sample, config, 1)
    import openpyxl

    memo = openpyxl.load_workbook(path)["codings"]["G2"]
    assert (memo.value, memo.data_type) == ('=HYPERLINK("http://x")', "s")

    sheets = pd.read_excel(path, sheet_name=None, keep_default_na=False)
    assert list(sheets) == ["segments", "codings", "codebook"]
    csv = pd.read_csv(write_csv(sample, config, 1), keep_default_na=False)
    assert sheets["segments"]["segment_id"].tolist() == csv["segment_id"].tolist()
    assert sheets["segments"]["codes"].tolist() == csv["codes"].tolist()
    (coded,) = sheets["codings"].itertuples()  # the skip is not a coding
    assert (coded.coder, coded.code, coded.span_text, coded.memo) == (
        "A", "havenots", segments["text"].iloc[1][:5], '=HYPERLINK("http://x")'
    )  # fmt: skip
    book = load_round(sample, config, 1).book
    assert sheets["codebook"]["id"].tolist() == book.ids
    kloof = sheets["codebook"].set_index("id").loc["havenots", "parent"]
    assert kloof == "digitale-kloof"


def _codebook_xsd(path, color_use: str):
    """A small schema of our own for the REFI-QDA codebook (the published one is not bundled):
    enough to see that --xsd validates, and that a violation stops the export."""
    path.write_text(f"""<?xml version="1.0"?>
<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns="urn:QDA-XML:codebook:1.0"
    targetNamespace="urn:QDA-XML:codebook:1.0" elementFormDefault="qualified">
  <xsd:element name="CodeBook"><xsd:complexType><xsd:sequence>
    <xsd:element name="Codes" type="CodesType"/></xsd:sequence>
    <xsd:attribute name="origin" type="xsd:string"/></xsd:complexType></xsd:element>
  <xsd:complexType name="CodesType"><xsd:sequence>
    <xsd:element name="Code" type="CodeType" maxOccurs="unbounded"/>
  </xsd:sequence></xsd:complexType>
  <xsd:complexType name="CodeType"><xsd:sequence>
    <xsd:element name="Description" type="xsd:string" minOccurs="0"/>
    <xsd:element name="Code" type="CodeType" minOccurs="0" maxOccurs="unbounded"/></xsd:sequence>
    <xsd:attribute name="guid" type="xsd:string" use="required"/>
    <xsd:attribute name="name" type="xsd:string" use="required"/>
    <xsd:attribute name="isCodable" type="xsd:boolean" use="required"/>
    <xsd:attribute name="color" type="xsd:string" use="{color_use}"/></xsd:complexType>
</xsd:schema>""")
    return path


def test_xsd_option_validates_before_writing(sample, tmp_path):
    from pipeline.export import write_qdc

    config = load_config(sample)
    target = sample.exports / "round-1" / f"{config.study}-round-1.qdc"
    target.unlink(missing_ok=True)
    with pytest.raises(CdaError) as info:
        write_qdc(sample, config, 1, xsd=_codebook_xsd(tmp_path / "strict.xsd", "required"))
    assert "does not validate against strict.xsd: line 4:"  # the first Code in info.value.message
    assert "color" in info.value.message and not target.exists()
    assert write_qdc(sample, config, 1, xsd=_codebook_xsd(tmp_path / "ok.xsd", "optional"))
    assert target.is_file()
    (tmp_path / "kapot.xsd").write_text("<xsd:schema")
    with pytest.raises(CdaError, match=r"kapot\.xsd: not a readable XML schema"):
        write_qdc(sample, config, 1, xsd=tmp_path / "kapot.xsd")
