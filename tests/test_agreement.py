"""The ``agreement`` stage: alpha and kappa against published and hand-worked values."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from pipeline.agreement import (
    agreement_tables,
    cohen_kappa,
    krippendorff_alpha,
    percent_agreement,
    run_agreement,
)
from pipeline.cli.init import init_workspace
from pipeline.codings.presence import disagreements, presence
from pipeline.core.config import load_config
from pipeline.core.io import frame_of, read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import AGREEMENT, CODINGS

NA = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: four
# observers, twelve units, nominal data with missing values; published alpha = 0.743.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
        [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA],
    ]
)


def test_alpha_reproduces_the_published_worked_example():
    assert krippendorff_alpha(KRIPPENDORFF_2011) == pytest.approx(0.743, abs=5e-4)


def test_alpha_matches_the_krippendorff_package_on_random_presence_data():
    rng = np.random.default_rng(3)
    for _ in range(20):
        data = rng.integers(0, 2, size=(3, 30)).astype(float)
        data[rng.random(data.shape) < 0.25] = np.nan
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
        assert krippendorff_alpha(data) == pytest.approx(expected)


def test_alpha_is_undefined_without_variation_and_one_for_perfect_agreement():
    assert np.isnan(krippendorff_alpha(np.zeros((2, 5))))
    assert krippendorff_alpha(np.array([[1, 0, 1, 0], [1, 0, 1, 0]])) == pytest.approx(1.0)


def test_cohen_kappa_by_hand_and_against_scikit_learn():
    # 10 units: both 1 on 3, both 0 on 4, A-only 2, B-only 1 -> po = 0.7
    a = np.array([1, 1, 1, 0, 0, 0, 0, 1, 1, 0])
    b = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 1])
    # pA(1) = 0.5, pB(1) = 0.4 -> pe = 0.5*0.4 + 0.5*0.6 = 0.5 -> kappa = (0.7-0.5)/0.5 = 0.4
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert percent_agreement(np.vstack([a, b])) == pytest.approx(0.7)


def _codings(rows: list[tuple]) -> pd.DataFrame:
    """(segment, coder, code or None, status) rows as a codings table."""
    frame = pd.DataFrame(rows, columns=["segment_id", "coder", "code", "status"])
    frame["task_id"] = range(len(frame))
    return frame_of(frame, CODINGS, in_codebook=True, origin="labelstudio")


CODINGS_ROWS = [
    ("s1", "A", "china", "coded"),
    ("s1", "B", "china", "coded"),
    ("s2", "A", "china", "coded"),
    ("s2", "B", None, "empty"),
    ("s3", "A", "kloof", "coded"),
    ("s3", "B", "kloof", "coded"),
    ("s3", "B", "china", "coded"),
    ("s4", "A", None, "skipped"),  # A gives no value for s4
    ("s4", "B", "china", "coded"),
    ("s5", "A", "china", "task-deleted"),  # neither counts
    ("s1", "adjudication", "kloof", "coded"),  # not a coder
]


def test_presence_treats_skips_as_missing_and_empty_annotations_as_absence():
    p = presence(_codings(CODINGS_ROWS), ["china", "kloof", "havenots"])
    assert p.coders == ["A", "B"] and p.segments == ["s1", "s2", "s3", "s4"]
    china = p.values[p.codes.index("china")]
    np.testing.assert_array_equal(china[0], [1, 1, 0, NA])
    np.testing.assert_array_equal(china[1], [1, 0, 1, 1])
    assert np.nansum(p.values[p.codes.index("havenots")]) == 0


def test_agreement_tables_per_code_pooled_and_pairwise():
    codes, pairs = agreement_tables(_codings(CODINGS_ROWS), ["china", "kloof", "havenots"])
    codes = codes.set_index("code")
    # china on s1..s3 (s4 has one value): A 1 1 0, B 1 0 1 -> n = 6, n1 = 4, n0 = 2,
    # o10 = o01 = 2 -> alpha = 1 - 5 * 4 / (2 * 4 * 2) = -0.25
    assert codes.loc["china", "alpha"] == pytest.approx(-0.25)
    assert codes.loc["china", "units"] == 3 and codes.loc["china", "present"] == 5
    assert codes.loc["kloof", "alpha"] == pytest.approx(1.0)
    assert np.isnan(codes.loc["havenots", "alpha"])
    assert codes.loc["havenots", "percent_agreement"] == pytest.approx(1.0)
    # pooled units: 3 codes × 3 pairable segments = 9 units; 7 agree
    assert codes.loc["(all)", "units"] == 9
    assert codes.loc["(all)", "percent_agreement"] == pytest.approx(7 / 9)
    pooled = np.array([[1, 1, 0, 0, 0, 1, 0, 0, 0], [1, 0, 1, 0, 0, 1, 0, 0, 0]], float)
    assert codes.loc["(all)", "alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=pooled, level_of_measurement="nominal")
    )
    china = pairs.set_index("code").loc["china"]
    assert (china["coder_a"], china["coder_b"], china["units"]) == ("A", "B", 3)
    assert china["kappa"] == pytest.approx(cohen_kappa_score([1, 1, 0], [1, 0, 1]))


def test_disagreements_name_who_coded_what():
    table = disagreements(_codings(CODINGS_ROWS))
    assert table.values.tolist() == [
        ["s2", "china", "A", "B"],
        ["s3", "china", "B", "A"],
    ]


def test_stage_writes_tables_only_when_they_change(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="proef", groups=["burgers"])
    (ws.codebooks / "proef").mkdir(parents=True)
    (ws.codebooks / "proef" / "round-1.yaml").write_text(
        "study: proef\nround: 1\ncodes:\n"
        "  - {id: china, label: China, description: China als dystopie}\n"
        "  - {id: kloof, label: Kloof, description: Digitale kloof}\n"
    )
    write_table(_codings(CODINGS_ROWS), CODINGS, ws.codings(1))
    config = load_config(ws)
    run_agreement(ws, config, 1)
    stamp = ws.agreement(1).stat().st_mtime_ns
    run_agreement(ws, config, 1)
    assert ws.agreement(1).stat().st_mtime_ns == stamp
    table = read_table(ws.agreement(1), AGREEMENT)
    assert table["code"].tolist() == ["china", "kloof", "(all)"]
