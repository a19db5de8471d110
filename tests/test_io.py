"""Schema validation on write and read, atomic writes, CSV and config errors (pipeline.core.io)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import atomic_path, read_csv, read_table, write_bytes, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, MANIFEST, MASKED_TERMS, SEGMENTS, WORDS

OLD_MTIME = 1_000_000_000  # 2001-09-09: clearly older than any write made by a test


def segments_frame() -> pd.DataFrame:
    """Three valid segments; the third has no times (nullable floats)."""
    return pd.DataFrame(
        {
            "recording_id": ["r1", "r1", "r2"],
            "group": ["burgers", "burgers", "deskundigen"],
            "segment_id": ["r1-0001", "r1-0002", "r2-0001"],
            "start": [0.0, 4.5, None],
            "end": [4.0, 9.25, None],
            "overlap": [0.0, 0.0, None],  # 4.5 starts after 4.0 ends; r2 has no times
            "speaker": ["P01", "F01", "unknown"],
            "role": ["participant", "facilitator", "unknown"],
            "text": ["Goedemorgen allemaal.", "Wat vinden jullie ervan?", "Geen tijden hier."],
            "source": ["import:txt", "import:txt", "import:jsonl"],
        }
    )


def words_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment_id": ["r1-0001", "r1-0001", "r1-0002"],
            "word_index": [0, 1, 0],
            "word": ["Goedemorgen", "allemaal.", "Wat"],
            "start": [0.0, 1.5, None],
            "end": [1.4, 4.0, None],
            "overlap": [False, True, None],
            "score": [0.91, None, None],
            "speaker": ["P01", "P01", None],
        }
    )


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A mutation that puts ``value`` into ``column`` at 0-based ``row``."""

    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        values = df[column].astype(object).tolist()
        values[row] = value
        return df.assign(**{column: values})

    return mutate


def _row_fragments(column: str, row: int) -> list[str]:
    """What a message about ``row`` of :func:`segments_frame` must name: column, row and key."""
    key = segments_frame()["segment_id"][row]
    return [f"'{column}'", f"row {row + 1}", f"segment_id={key}"]


# (mutation of segments_frame(), fragments the error message must contain)
BAD_SEGMENTS = [
    pytest.param(lambda df: df.drop(columns=["text"]), ["text", SEGMENTS.tag], id="missing-column"),
    pytest.param(
        lambda df: df.assign(notes=["a", "b", "c"]), ["notes", SEGMENTS.tag], id="extra-column"
    ),
    pytest.param(_set("speaker", 1, None), _row_fragments("speaker", 1), id="null"),
    pytest.param(_set("text", 2, "   "), _row_fragments("text", 2), id="blank"),
    pytest.param(_set("role", 1, "moderator"), _row_fragments("role", 1), id="not-allowed"),
    pytest.param(
        _set("segment_id", 2, "r1-0001"),
        ["segment_id", "row 1", "row 3", "segment_id=r1-0001"],
        id="duplicate-key",
    ),
    pytest.param(_set("end", 1, 1.0), _row_fragments("end", 1), id="end-before-start"),
    # r1-0002 lasts 9.25 - 4.5 = 4.75 s: it cannot be spoken over for longer
    pytest.param(_set("overlap", 1, 5.0), _row_fragments("overlap", 1), id="overlap-too-long"),
    pytest.param(_set("overlap", 1, -0.5), _row_fragments("overlap", 1), id="overlap-negative"),
    pytest.param(_set("overlap", 2, 0.0), _row_fragments("overlap", 2), id="overlap-untimed"),
    # A text column of numbers in which one is not: pyarrow can store it, validation must not.
    pytest.param(
        lambda df: df.assign(start=["0", "vier", None]),
        _row_fragments("start", 1),
        id="not-a-number",
    ),
]


def _assert_names(error: CdaError, path: Path, fragments: list[str]) -> None:
    assert str(path) in error.message
    for fragment in fragments:
        assert fragment in error.message, f"{fragment!r} not in {error.message!r}"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# validation on write -------------------------------------------------------------------------


@pytest.mark.parametrize(("mutate", "fragments"), BAD_SEGMENTS)
def test_write_table_rejects_invalid_frame(tmp_path: Path, mutate, fragments) -> None:
    path = tmp_path / "segments.parquet"
    with pytest.raises(CdaError) as info:
        write_table(mutate(segments_frame()), SEGMENTS, path)
    _assert_names(info.value, path, fragments)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_table_names_row_of_non_integer_in_int_column(tmp_path: Path) -> None:
    path = tmp_path / "words.parquet"
    bad = words_frame().assign(word_index=[0, 1.5, 0])
    with pytest.raises(CdaError) as info:
        write_table(bad, WORDS, path)
    _assert_names(info.value, path, ["'word_index'", "row 2", "segment_id=r1-0001"])
    assert not path.exists()


def test_write_table_lists_every_duplicate_and_counts_them(tmp_path: Path) -> None:
    df = segments_frame().assign(segment_id=["x", "y", "x"])
    with pytest.raises(CdaError) as info:
        write_table(df, SEGMENTS, tmp_path / "s.parquet")
    assert "2 row(s)" in info.value.message
    assert "row 2" not in info.value.message


# validation on read --------------------------------------------------------------------------


def _write_raw_parquet(df: pd.DataFrame, path: Path, tag: str | None) -> None:
    """Write a parquet with pyarrow directly, bypassing write_table's validation."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if tag is not None:
        table = table.replace_schema_metadata({b"cda.schema": tag.encode()})
    pq.write_table(table, path)


@pytest.mark.parametrize(("mutate", "fragments"), BAD_SEGMENTS)
def test_read_table_rejects_invalid_parquet(tmp_path: Path, mutate, fragments) -> None:
    path = tmp_path / "segments.parquet"
    _write_raw_parquet(mutate(segments_frame()), path, SEGMENTS.tag)
    with pytest.raises(CdaError) as info:
        read_table(path, SEGMENTS)
    _assert_names(info.value, path, fragments)


def test_read_table_checks_untagged_parquet_too(tmp_path: Path) -> None:
    path = tmp_path / "segments.parquet"
    _write_raw_parquet(_set("role", 0, "moderator")(segments_frame()), path, None)
    with pytest.raises(CdaError) as info:
        read_table(path, SEGMENTS)
    _assert_names(info.value, path, _row_fragments("role", 0))


def test_read_table_accepts_the_valid_raw_parquet(tmp_path: Path) -> None:
    """Control for the two tests above: the unmutated frame written the same way is fine."""
    path = tmp_path / "segments.parquet"
    _write_raw_parquet(segments_frame(), path, SEGMENTS.tag)
    assert read_table(path, SEGMENTS)["segment_id"].tolist() == ["r1-0001", "r1-0002", "r2-0001"]


def test_read_table_rejects_other_schema_tag(tmp_path: Path) -> None:
    path = tmp_path / "segments.parquet"
    _write_raw_parquet(segments_frame(), path, "segments.v0")
    with pytest.raises(CdaError) as info:
        read_table(path, SEGMENTS)
    _assert_names(info.value, path, ["segments.v0", SEGMENTS.tag])


def test_read_table_rejects_table_of_another_schema(tmp_path: Path) -> None:
    path = tmp_path / "words.parquet"
    write_table(words_frame(), WORDS, path)
    with pytest.raises(CdaError) as info:
        read_table(path, SEGMENTS)
    _assert_names(info.value, path, [WORDS.tag, SEGMENTS.tag])


def test_read_table_names_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    with pytest.raises(CdaError) as info:
        read_table(missing, SEGMENTS)
    assert str(missing) in info.value.message
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet at all")
    with pytest.raises(CdaError) as info:
        read_table(garbage, SEGMENTS)
    assert str(garbage) in info.value.message


# atomic writes -------------------------------------------------------------------------------


def test_failed_write_table_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "segments.parquet"
    write_table(segments_frame(), SEGMENTS, path)
    before = path.read_bytes()
    os.utime(path, (OLD_MTIME, OLD_MTIME))
    with pytest.raises(CdaError):
        write_table(_set("role", 0, "moderator")(segments_frame()), SEGMENTS, path)
    assert path.read_bytes() == before
    assert path.stat().st_mtime == OLD_MTIME
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["segments.parquet"]


def test_exception_inside_atomic_path_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_bytes(b"<p>old and good</p>")
    seen: list[Path] = []
    with pytest.raises(RuntimeError, match="serialiser crashed"), atomic_path(path) as tmp:
        seen.append(tmp)
        tmp.write_bytes(b"<p>half writ")
        assert tmp.exists()
        raise RuntimeError("serialiser crashed")
    (tmp,) = seen
    assert tmp.parent == path.parent
    assert tmp.name.startswith(".") and tmp.name.endswith(".tmp")
    assert not tmp.exists()
    assert path.read_bytes() == b"<p>old and good</p>"
    assert _leftovers(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_atomic_path_replaces_on_success_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "file.txt"
    with atomic_path(path) as tmp:
        tmp.write_text("nieuw", encoding="utf-8")
        assert not path.exists()  # nothing visible until the block succeeds
    assert path.read_text(encoding="utf-8") == "nieuw"
    assert _leftovers(path.parent) == []


def test_write_bytes_only_if_changed_keeps_identical_file(tmp_path: Path) -> None:
    path = tmp_path / "speakers.csv"
    path.write_bytes(b"a,b\n1,2\n")
    os.utime(path, (OLD_MTIME, OLD_MTIME))
    assert write_bytes(path, b"a,b\n1,2\n", only_if_changed=True) is False
    assert path.stat().st_mtime == OLD_MTIME
    assert path.read_bytes() == b"a,b\n1,2\n"

    assert write_bytes(path, b"a,b\n1,3\n", only_if_changed=True) is True
    assert path.read_bytes() == b"a,b\n1,3\n"
    assert path.stat().st_mtime > OLD_MTIME
    assert _leftovers(tmp_path) == []


def test_write_bytes_without_only_if_changed_always_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"same")
    os.utime(path, (OLD_MTIME, OLD_MTIME))
    assert write_bytes(path, b"same") is True
    assert path.stat().st_mtime > OLD_MTIME


def test_write_table_only_if_changed_is_deterministic(tmp_path: Path) -> None:
    path = tmp_path / "segments.parquet"
    assert write_table(segments_frame(), SEGMENTS, path, only_if_changed=True) is True
    os.utime(path, (OLD_MTIME, OLD_MTIME))
    assert write_table(segments_frame(), SEGMENTS, path, only_if_changed=True) is False
    assert path.stat().st_mtime == OLD_MTIME
    changed = segments_frame().assign(text=["Anders.", "Wat vinden jullie ervan?", "Geen."])
    assert write_table(changed, SEGMENTS, path, only_if_changed=True) is True
    assert read_table(path, SEGMENTS)["text"].tolist() == changed["text"].tolist()


# round trip ----------------------------------------------------------------------------------


def test_segments_round_trip(tmp_path: Path) -> None:
    original = segments_frame()
    path = tmp_path / "interim" / "segments.parquet"
    assert write_table(original, SEGMENTS, path) is True
    back = read_table(path, SEGMENTS)

    assert list(back.columns) == SEGMENTS.names
    assert len(back) == len(original)
    for column in ("recording_id", "group", "segment_id", "speaker", "role", "text", "source"):
        assert pd.api.types.is_string_dtype(back[column]), column
        assert all(isinstance(v, str) for v in back[column]), column
        assert back[column].tolist() == original[column].tolist(), column
    for column in ("start", "end", "overlap"):
        assert back[column].dtype == "float64"
        assert back[column][:2].tolist() == original[column][:2].tolist()
        assert math.isnan(back[column][2])


def test_words_round_trip_keeps_nullable_columns(tmp_path: Path) -> None:
    original = words_frame()
    path = tmp_path / "words.parquet"
    write_table(original, WORDS, path)
    back = read_table(path, WORDS)

    assert back["word_index"].tolist() == [0, 1, 0]
    assert back["word"].tolist() == original["word"].tolist()
    assert back["score"][0] == pytest.approx(0.91)
    assert back["score"][1:].isna().all()
    assert back["speaker"][:2].tolist() == ["P01", "P01"]
    assert pd.isna(back["speaker"][2])  # missing stays missing, not the text "None" or "nan"
    assert "None" not in back["speaker"].dropna().tolist()


# csv -----------------------------------------------------------------------------------------

MANIFEST_HEADER = "recording_id,group,date,language,media,transcript,sha256\n"


def test_read_csv_rejects_non_utf8_and_names_file(tmp_path: Path) -> None:
    path = tmp_path / "recordings.csv"
    data = MANIFEST_HEADER.encode() + "r1,café,2026-03-12,nl,,raw/r1.txt,\n".encode("cp1252")
    path.write_bytes(data)
    with pytest.raises(CdaError) as info:
        read_csv(path, MANIFEST)
    assert str(path) in info.value.message
    assert "UTF-8" in info.value.message
    offset = data.index("é".encode("cp1252"))
    line = data[:offset].count(b"\n") + 1
    assert f"{path}:{line}:" in info.value.message
    assert f"byte {offset}" in info.value.message


def test_read_csv_rejects_unknown_column_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "recordings.csv"
    path.write_text(
        MANIFEST_HEADER.rstrip("\n") + ",opmerkingen\n"
        "r1,burgers,2026-03-12,nl,,raw/r1.txt,,goed gesprek\n",
        encoding="utf-8",
    )
    with pytest.raises(CdaError) as info:
        read_csv(path, MANIFEST)
    assert str(path) in info.value.message
    assert "opmerkingen" in info.value.message


def test_read_csv_validates_rows_and_keeps_empty_cells_missing(tmp_path: Path) -> None:
    path = tmp_path / "recordings.csv"
    path.write_text(MANIFEST_HEADER + " r1 , burgers ,,nl,,raw/r1.txt,\n", encoding="utf-8")
    manifest = read_csv(path, MANIFEST)
    assert manifest["recording_id"].tolist() == ["r1"]
    assert manifest["group"].tolist() == ["burgers"]
    assert pd.isna(manifest["date"][0]) and pd.isna(manifest["sha256"][0])

    path.write_text(MANIFEST_HEADER + "r1,burgers,,,,,\nr1,burgers,,,,,\n", encoding="utf-8")
    with pytest.raises(CdaError) as info:
        read_csv(path, MANIFEST)
    _assert_names(info.value, path, ["row 1", "row 2", "recording_id=r1"])


def test_read_csv_reads_booleans_as_written_and_refuses_others(tmp_path: Path) -> None:
    path = tmp_path / "pseudonymise.csv"
    header = ",".join(MASKED_TERMS.names) + "\n"
    path.write_text(
        header + "r1,Kat,label,[P01],2,1,0,0,True,nl\nr1,Vos,label,[P02],1,0,0,0,false,nl\n",
        encoding="utf-8",
    )
    assert read_csv(path, MASKED_TERMS)["dictionary_word"].tolist() == [True, False]
    path.write_text(header + "r1,Kat,label,[P01],2,1,0,0,misschien,nl\n", encoding="utf-8")
    with pytest.raises(CdaError) as info:
        read_csv(path, MASKED_TERMS)
    assert "column 'dictionary_word' should be bool" in info.value.message


# cda.yaml ------------------------------------------------------------------------------------

CONFIG_HEAD = "# Studie\nstudy: proef\n\ngroups: [burgers]\n"


@pytest.mark.parametrize(
    ("tail", "marker", "field"),
    [
        pytest.param(
            "topics:\n  top_words: 8\n  n_topic: 3\n",
            "n_topic:",
            "topics.n_topic",
            id="unknown-key-block",
        ),
        pytest.param(
            "report: {round: 1}\ntopics: {n_topic: 3}\n",
            "n_topic:",
            "topics.n_topic",
            id="unknown-key-flow",
        ),
        pytest.param(
            "report:\n  round: 1\n  quotes: misschien\n",
            "quotes:",
            "report.quotes",
            id="wrong-type-bool",
        ),
        pytest.param(
            "topics:\n  random_state: 1\n  top_words: veel\n",
            "top_words:",
            "topics.top_words",
            id="wrong-type-int",
        ),
        pytest.param(
            "import:\n  max_overlap: -1\n", "max_overlap:", "import.max_overlap", id="out-of-range"
        ),
    ],
)
def test_config_error_names_file_line_and_field(
    tmp_path: Path, tail: str, marker: str, field: str
) -> None:
    text = CONFIG_HEAD + tail
    ws = Workspace.at(tmp_path)
    ws.config_file.write_text(text, encoding="utf-8")
    line = next(no for no, ln in enumerate(text.splitlines(), start=1) if marker in ln)
    with pytest.raises(CdaError) as info:
        load_config(ws)
    message = info.value.message
    assert f"{ws.config_file}:{line}:" in message
    assert field in message


def test_config_error_in_list_item_names_its_line(tmp_path: Path) -> None:
    text = "study: proef\ngroups:\n  - burgers\n  - [deskundigen]\n"
    ws = Workspace.at(tmp_path)
    ws.config_file.write_text(text, encoding="utf-8")
    with pytest.raises(CdaError) as info:
        load_config(ws)
    assert f"{ws.config_file}:4:" in info.value.message
    assert "groups[1]" in info.value.message


def test_valid_config_loads(tmp_path: Path) -> None:
    """Control: the head used above is itself valid, and settings arrive typed."""
    ws = Workspace.at(tmp_path)
    ws.config_file.write_text(CONFIG_HEAD + "topics:\n  n_topics: 3\n", encoding="utf-8")
    config = load_config(ws)
    assert config.study == "proef"
    assert config.groups == ["burgers"]
    assert config.topics.n_topics == 3
    assert config.report.quotes is False


def test_segments_v1_files_get_overlap_computed_on_read(tmp_path: Path) -> None:
    """Workspaces imported before the overlap column keep working: reading computes it.

    By hand, per recording in turn order (latest = greatest earlier end):
    a-1 0-10 first: 0; a-2 8-12: min(10, 12) - 8 = 2; a-3 9-11 (inside a-2): latest 12,
    min(12, 11) - 9 = 2 = its whole length; a-4 11.5-20: latest still 12 (not a-3's 11),
    12 - 11.5 = 0.5; a-5 25-26: after everything, 0. b-1 5-6: a new recording, first: 0.
    c-1 and c-2 have no times: empty.
    """
    v1 = pd.DataFrame(
        {
            "recording_id": ["a"] * 5 + ["b", "c", "c"],
            "group": ["burgers"] * 8,
            "segment_id": [f"a-000{i}" for i in range(1, 6)] + ["b-0001", "c-0001", "c-0002"],
            "start": [0.0, 8.0, 9.0, 11.5, 25.0, 5.0, None, None],
            "end": [10.0, 12.0, 11.0, 20.0, 26.0, 6.0, None, None],
            "speaker": ["P01", "P02", "P03", "P01", "P02", "P04", "P05", "P06"],
            "role": ["participant"] * 8,
            "text": ["Tekst."] * 8,
            "source": ["import:srt"] * 6 + ["import:txt"] * 2,
        }
    )
    path = tmp_path / "segments.parquet"
    _write_raw_parquet(v1, path, "segments.v1")
    table = read_table(path, SEGMENTS)
    assert list(table.columns) == SEGMENTS.names
    overlap = [None if pd.isna(v) else v for v in table["overlap"]]
    assert overlap == [0.0, 2.0, 2.0, 0.5, 0.0, 0.0, None, None]
    assert table["text"].tolist() == v1["text"].tolist()


def test_codings_v1_files_are_read_as_v2_pulled_from_label_studio(tmp_path: Path) -> None:
    """A round's codings pulled by the previous release stay readable, origin filled in."""
    v1 = pd.DataFrame(
        {"segment_id": ["r1-0001"], "coder": ["A"], "code": ["china"], "span_start": [None],
         "span_end": [None], "span_text": [None], "memo": [None], "lead_time": [1.5],
         "updated_at": [None], "task_id": [7], "annotation_id": [3], "annotator": [1],
         "status": ["coded"], "in_codebook": [True]}
    )  # fmt: skip
    path = tmp_path / "codings.parquet"
    _write_raw_parquet(v1, path, "codings.v1")
    table = read_table(path, CODINGS)
    assert table["origin"].tolist() == ["labelstudio"] and table["task_id"].tolist() == [7]
    _write_raw_parquet(v1, path, "codings.v0")  # no upgrade path from an unknown version
    with pytest.raises(CdaError) as info:
        read_table(path, CODINGS)
    _assert_names(info.value, path, ["codings.v0", CODINGS.tag])


def test_topics_v2_files_say_their_outlier_row_holds_too_short_units_too(tmp_path: Path) -> None:
    """Before topic -2, units too short to model were counted in the outlier row."""
    from pipeline.core.schemas import DOC_TOPICS, OLD_OUTLIER_LABEL, TOPICS

    topics = pd.DataFrame(
        {"topic": [0, -1], "label": ["0_china", "-1_outliers"], "keywords": ["china", ""],
         "size": [5, 9], "representative_segments": ["r-0001", ""], "code": [None, None]}
    )  # fmt: skip
    path = tmp_path / "topics.parquet"
    _write_raw_parquet(topics, path, "topics.v2")
    table = read_table(path, TOPICS)
    assert table["label"].tolist() == ["0_china", OLD_OUTLIER_LABEL]
    assert table["size"].tolist() == [5, 9]
    doc_topics = pd.DataFrame(
        {"segment_id": ["r-0001"], "unit": [0], "topic": [0], "probability": [1.0]}
    )
    path = tmp_path / "doc_topics.parquet"
    _write_raw_parquet(doc_topics, path, "doc_topics.v2")
    table = read_table(path, DOC_TOPICS)
    assert table["centrality"].isna().all() and table["topic"].tolist() == [0]
