"""Learned suggestions (pipeline.suggest.training, pipeline.suggest.learned): labels from the
coding basis, codes carried through ``replaces``, calibrated models with honest figures, the
fallback for thin codes, and the stage on the sample with hand-made codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import sample_through_nlp

from pipeline.codebook import Codebook
from pipeline.core.config import load_config
from pipeline.core.io import frame_of, read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, SEGMENTS, SUGGESTIONS, UNCERTAINTY
from pipeline.suggest import expected_codes, run_suggest
from pipeline.suggest.learned import best_threshold, fit_codes, honest_figures, uncertainty
from pipeline.suggest.training import Labels, carried, round_labels

ROOT = Path(__file__).resolve().parents[1]
NA = np.nan


def codings(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["segment_id", "coder", "code", "status"])
    frame["task_id"] = range(len(frame))
    return frame_of(frame, CODINGS, in_codebook=True, origin="labelstudio")


def book(codes: list[dict], **extra) -> Codebook:
    return Codebook.model_validate({"study": "proef", "round": 1, "codes": codes, **extra})


def code(cid: str, **extra) -> dict:
    return {"id": cid, "label": cid, "description": f"{cid}.", **extra}


# labels -----------------------------------------------------------------------------------------


def test_labels_come_from_the_coding_basis_never_from_disagreeing_or_machine_coders() -> None:
    rows = [
        ("s1", "A", "a", "coded"),
        ("s1", "B", "a", "coded"),  # both: a applied
        ("s2", "A", "a", "coded"),
        ("s2", "B", None, "empty"),  # A and B differ on a, nobody adjudicated: unknown
        ("s3", "A", None, "empty"),
        ("s3", "adjudication", "b", "coded"),  # the adjudicator decides s3
        ("s4", "A", None, "skipped"),  # skipped: no judgement, s4 not coded
        ("s5", "llm:qwen", "a", "coded"),  # a machine coder never trains a model
        ("s1", "llm:qwen", "b", "coded"),
    ]
    table, judged = round_labels(codings(rows), book([code("a"), code("b")]), "settled")
    assert judged == {"s1", "s2", "s3"}
    # by hand: s1 a=1 (A and B), b=0 (the LLM's b does not count); s2 a unknown (A yes, B
    # no), b=0; s3 adjudicated: b=1, a=0
    assert table.loc["s1"].tolist() == [1, 0]
    assert np.isnan(table.loc["s2", "a"]) and table.loc["s2", "b"] == 0
    assert table.loc["s3"].tolist() == [0, 1]


def test_previous_round_codes_are_carried_through_replaces() -> None:
    old = book([code("a"), code("b"), code("c"), code("x"), code("gone")])
    new = book(
        [
            code("ab", replaces=["a", "b"]),  # a merge
            code("c"),  # kept under its id
            code("x1", replaces=["x"]),  # a split: x1 and x2 both replace x
            code("x2", replaces=["x"]),
            code("fresh"),  # new: nothing to learn from round 1
        ],
        round=2,
        based_on="round-1.yaml",
    )
    previous = pd.DataFrame(
        {
            "a": [1, 0, 0, NA],
            "b": [0, 1, 0, 0],
            "c": [0, 0, 1, 0],
            "x": [1, 0, 0, 0],
            "gone": [0, 0, 0, 1],
        },
        index=["s1", "s2", "s3", "s4"],
        dtype=float,
    )
    out = carried(previous, old, new)
    # ab: positive where a or b (s1, s2), negative where both were absent (s3); s4 has a
    # unresolved and b absent: not all absent, not any present: unknown
    assert out["ab"].tolist()[:3] == [1, 1, 0] and np.isnan(out.loc["s4", "ab"])
    assert out["c"].tolist() == [0, 0, 1, 0]
    # split: an earlier x does not say whether x1 or x2; no x says neither
    for part in ("x1", "x2"):
        assert np.isnan(out.loc["s1", part]) and out.loc[["s2", "s3", "s4"], part].tolist() == [
            0,
            0,
            0,
        ]
    assert out["fresh"].isna().all()


# figures and thresholds, by hand ------------------------------------------------------------------


def test_figures_at_a_fixed_threshold_by_hand() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.1, 0.3, 0.4])
    folds = np.zeros(8, dtype=int)
    # at 0.5: predicted s0 s1 s3; 2 of 3 right, 2 of 3 found: P = R = F1 = 2/3
    assert honest_figures(y, p, folds, 0.5) == (0.6667, 0.6667, 0.6667)


def test_a_per_code_threshold_is_chosen_on_the_other_folds() -> None:
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    p = np.array([0.3, 0.35, 0.1, 0.2, 0.8, 0.9, 0.7, 0.1])
    fold_of = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # fold 1 alone: 0.8 separates it (F1 1); fold 0 alone: 0.3 does
    assert best_threshold(y[4:], p[4:]) == 0.8 and best_threshold(y[:4], p[:4]) == 0.3
    # judged across: fold 0 at fold 1's 0.8 finds nothing (0 of 2); fold 1 at fold 0's 0.3
    # predicts 0.8, 0.9, 0.7: 2 right of 3. Overall P 2/3, R 2/4, F1 = 2*2/(3+4) = 4/7
    assert honest_figures(y, p, fold_of, None) == (0.6667, 0.5, 0.5714)


def test_uncertainty_is_the_code_nearest_even_odds() -> None:
    from pipeline.suggest.learned import Learned

    probs = pd.DataFrame({"a": [0.9, 0.45], "b": [0.2, 0.05]}, index=["s1", "s2"])
    table = uncertainty(Learned([], probs), source="model:x@1")
    # s1: a 1-|1.8-1| = 0.2, b 1-|0.4-1| = 0.4 -> b; s2: a 1-|0.9-1| = 0.9 -> a
    assert table[["segment_id", "code"]].values.tolist() == [["s1", "b"], ["s2", "a"]]
    assert table["uncertainty"].tolist() == pytest.approx([0.4, 0.9])


# the models ---------------------------------------------------------------------------------------


def _world(n: int = 400, seed: int = 0):
    """Segments whose first feature says how likely a code is: x0 = 1 (30 % of segments) ->
    60 % have the code, x0 = 0 -> 3 %; the rest is noise. A rare code, as themes are."""
    rng = np.random.default_rng(seed)
    x0 = (rng.random(n) < 0.3).astype(int)
    truth = rng.random(n) < np.where(x0 == 1, 0.6, 0.03)
    features = np.column_stack([x0 * 3.0, rng.normal(0, 0.3, (n, 5))])
    ids = [f"s{i:03d}" for i in range(n)]
    return features, ids, truth


def test_a_learned_code_is_calibrated_and_a_thin_code_falls_back() -> None:
    from sklearn.linear_model import LogisticRegression

    features, ids, truth = _world()
    coded = ids[:300]
    table = pd.DataFrame({"often": truth[:300].astype(float)}, index=coded)
    table["thin"] = 0.0
    table.loc[coded[:3], "thin"] = 1.0  # three positives only
    labels = Labels(table, frozenset(coded), {})
    learned = fit_codes(features, ids, labels, min_examples=5, threshold=None)
    fits = {f.code: f for f in learned.fits}
    assert fits["thin"].mode == "zero-shot"
    assert fits["thin"].reason == "3 positive example(s), needs suggest.min_examples: 5"
    often = fits["often"]
    assert often.mode == "learned" and often.folds == 5
    assert often.positives == int(truth[:300].sum()) and often.negatives == 300 - often.positives
    # the model scores only the 100 segments nobody judged
    probs = learned.probabilities["often"]
    assert list(probs.index) == ids[300:]
    # calibrated: each group's mean probability is near the rate the coded segments show
    # for it (0.62 and 0.03 with this seed); the balanced model alone says 0.87 and 0.13
    x0, seen = features[300:, 0] > 0, features[:300, 0] > 0
    rates = truth[:300][seen].mean(), truth[:300][~seen].mean()
    assert probs[x0].mean() == pytest.approx(rates[0], abs=0.08)
    assert probs[~x0].mean() == pytest.approx(rates[1], abs=0.03)
    raw = LogisticRegression(class_weight="balanced", solver="liblinear").fit(
        features[:300], truth[:300]
    )
    uncalibrated = raw.predict_proba(features[300:])[:, 1]
    assert uncalibrated[x0].mean() > rates[0] + 0.15  # what calibration corrects
    # the best achievable here (suggest exactly where x0 = 1): P 0.6, R ~0.9, F1 ~0.72
    assert 0.6 <= often.f1 <= 0.85
    suggested = probs[probs >= often.threshold].index
    assert set(suggested) == {s for s, hit in zip(ids[300:], x0, strict=True) if hit}
    evidence = learned.evidence[(suggested[0], "often")]
    assert evidence.startswith("nearest coded: s")  # coded segments, by id
    named = evidence.removeprefix("nearest coded: ").split(", ")
    assert all(table.loc[s, "often"] == 1 for s in named)


# the stage on the sample ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return sample_through_nlp(tmp_path_factory.mktemp("learned") / "ws")


def _hand_codes(ws: Workspace, share: float, *, llm: bool = False) -> list[str]:
    """The sample's hand coding (expected_codes.csv) for the first ``share`` of the segments,
    as coder ann's codings; with ``llm``, a machine coder that codes everything as china."""
    segments = read_table(ws.segments, SEGMENTS)
    ids = segments["segment_id"].tolist()
    coded = ids[: int(len(ids) * share)]
    expected = expected_codes(ROOT / "pipeline" / "resources" / "sample" / "expected_codes.csv")
    rows = []
    for sid in coded:
        mine = expected.loc[expected["segment_id"] == sid, "code"].tolist()
        rows += [(sid, "ann", c, "coded") for c in mine] or [(sid, "ann", None, "empty")]
        if llm:
            rows.append((sid, "llm:qwen", "china-dystopie", "coded"))
    write_table(codings(rows), CODINGS, ws.codings(1))
    return coded


def test_the_stage_learns_from_coded_segments_and_reports_its_figures(sample: Workspace) -> None:
    config = load_config(sample)
    coded = _hand_codes(sample, 0.5)
    result = run_suggest(sample, config, round_no=1)
    info = json.loads((sample.round_dir(1) / "suggest.json").read_text())
    learned = info["learned"]
    assert learned["source"].startswith("model:combined@")
    assert learned["training"] == {"this_round": len(coded), "previous_round": 0}
    fits = {f["code"]: f for f in learned["codes"]}
    learned_codes = {c for c, f in fits.items() if f["mode"] == "learned"}
    assert learned_codes, fits
    for cid, fit in fits.items():
        if fit["mode"] == "learned":
            assert 0 <= fit["precision"] <= 1 and 0 <= fit["f1"] <= 1 and fit["threshold"]
        else:  # too few examples, or zero-shot did as well on the coded segments
            assert "needs suggest.min_examples: 5" in fit["reason"] or fit["reason"].startswith(
                "zero-shot did as well on the coded segments"
            ), cid
    table = read_table(sample.suggestions(1), SUGGESTIONS)
    model = table[table["source"] == learned["source"]]
    assert len(model) and not set(model["segment_id"]) & set(coded)  # only uncoded segments
    assert set(model["code"]) <= learned_codes
    assert model["evidence"].str.startswith("nearest coded: ").all()
    # learned codes get no zero-shot similarity rows; the others keep them
    similar = table[table["source"].str.startswith("similarity")]
    assert not set(similar["code"]) & learned_codes
    unsure = read_table(sample.uncertainty(1), UNCERTAINTY)
    assert set(unsure["segment_id"]) == set(
        read_table(sample.segments, SEGMENTS)["segment_id"]
    ) - set(coded)
    assert unsure["uncertainty"].between(0, 1).all() and set(unsure["code"]) <= learned_codes
    assert result.info == info

    # a machine coder's codes change nothing: same training hash, same suggestions
    _hand_codes(sample, 0.5, llm=True)
    again = run_suggest(sample, config, round_no=1)
    assert again.info["learned"]["source"] == learned["source"]
    pd.testing.assert_frame_equal(again.table, result.table)


def test_without_codes_the_stage_says_it_is_zero_shot(sample: Workspace) -> None:
    sample.codings(1).unlink(missing_ok=True)
    result = run_suggest(sample, load_config(sample), round_no=1)
    assert result.info["learned"] == {
        "source": None,
        "note": "no human codes to learn from yet",
        "codes": [],
    }
    assert read_table(sample.uncertainty(1), UNCERTAINTY).empty
    assert not result.table["source"].str.startswith("model:").any()


def test_an_absent_theme_gets_no_suggestion_at_the_defaults(sample: Workspace) -> None:
    """Nobody in the sample talks about space travel or the army: with the codebook's real
    themes beside them, the default thresholds must leave both without a suggestion (the
    issue's report: a low threshold gave nine for a theme nobody raised)."""
    sample.codings(1).unlink(missing_ok=True)
    path = sample.codebooks / "digitalisering-cohesie" / "round-1.yaml"
    original = path.read_text(encoding="utf-8")
    absent = (
        "  - id: ruimtevaart\n    label: Ruimtevaart\n    description: >-\n"
        "      Reizen naar de maan en Mars, raketten, satellieten en astronauten.\n"
        "    keywords: [raket, astronaut, satelliet]\n"
        "  - id: leger\n    label: Het leger\n    description: >-\n"
        "      De krijgsmacht: militairen, de NAVO, tanks, fregatten en de defensiebegroting.\n"
        "    keywords: [militair, NAVO, fregat]\n"
    )
    path.write_text(original + absent, encoding="utf-8")
    try:
        table = run_suggest(sample, load_config(sample), round_no=1).table
    finally:
        path.write_text(original, encoding="utf-8")
    assert table["segment_id"].nunique() > 50  # the real themes are suggested
    assert table[table["code"].isin(["ruimtevaart", "leger"])].empty


def test_round_two_learns_from_round_one_through_replaces(sample: Workspace) -> None:
    """Round 2 merges cannots and maynots into one code and keeps the rest: its model trains on
    round 1's human codes, the merged code positive wherever either was applied."""
    import yaml

    from pipeline.codebook import new_round

    config = load_config(sample)
    coded = _hand_codes(sample, 0.6)  # round 1's codings, nothing coded in round 2 yet
    path = new_round(sample, config, 2)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        kept = [c for c in data["codes"] if c["id"] not in ("cannots", "maynots")]
        merged = {
            "id": "kan-mag-niet",
            "label": "Kan of mag niet",
            "description": "Mensen die digitaal niet kunnen of niet mogen.",
            "parent": "digitale-kloof",
            "replaces": ["cannots", "maynots"],
        }
        data["codes"] = [*kept, merged]
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        result = run_suggest(sample, config, round_no=2)
    finally:
        path.unlink()
    learned = result.info["learned"]
    assert learned["training"] == {"this_round": 0, "previous_round": len(coded)}
    fits = {f["code"]: f for f in learned["codes"]}
    expected = expected_codes(ROOT / "pipeline" / "resources" / "sample" / "expected_codes.csv")
    expected = expected[expected["segment_id"].isin(coded)]
    # by hand from the hand coding: segments with cannots or maynots (a child code rolls up
    # to its parents, which does not touch the merge)
    either = expected.loc[expected["code"].isin(["cannots", "maynots"]), "segment_id"].nunique()
    assert fits["kan-mag-niet"]["positives"] == either
    assert fits["kan-mag-niet"]["negatives"] == len(coded) - either
    china = expected.loc[expected["code"] == "china-dystopie", "segment_id"].nunique()
    assert fits["china-dystopie"]["positives"] == china  # kept under its id
    # nobody coded round 2: every segment may get a model's suggestion
    model = result.table[result.table["source"] == learned["source"]]
    assert len(model) and set(model["segment_id"]) & set(coded)
