"""How far to trust a diarisation: DER and JER against a hand-annotated RTTM.

The same definitions as ``pyannote.metrics`` 4.2 (``DiarizationErrorRate``,
``JaccardErrorRate``), computed exactly on segment boundaries rather than sampled frames, so
the main environment needs no pyannote (``tests/test_diarise.py`` checks the figures against
pyannote.metrics in the WhisperX environment):

- the evaluated region is the union of the reference's and the hypothesis's extents, less a
  collar around every reference segment boundary (``collar`` seconds on each side; pyannote's
  ``collar`` argument is the total width, twice this);
- reference and hypothesis speakers are paired one-to-one so that the time they share is
  largest (Hungarian algorithm on the co-occurrence durations);
- DER = (missed + false alarm + confusion) / reference speech, where at every instant with
  r reference and h hypothesis speakers, of which c are correctly paired, missed counts
  max(0, r-h), false alarm max(0, h-r) and confusion min(r, h) - c;
- a speaker's overlapping turns count once (at each instant a speaker speaks or not), where
  pyannote counts such a self-overlap twice; otherwise the figures agree to 1e-6;
- JER = the mean over reference speakers of (false alarm + missed) / union of that speaker's
  time and the time of the hypothesis speaker paired with it (1 when none is paired).
"""

from __future__ import annotations

import bisect
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace
from pipeline.transcribe.steps import step_outputs

Turn = tuple[float, float, str]


@dataclass(frozen=True)
class Evaluation:
    """DER, JER and their parts (seconds) at one collar, and the speaker pairing."""

    collar: float
    der: float
    jer: float
    total: float
    missed: float
    false_alarm: float
    confusion: float
    mapping: dict[str, str | None] = field(default_factory=dict)


def read_rttm_turns(path: Path) -> list[Turn]:
    """``SPEAKER <file> <chan> <start> <dur> <NA> <NA> <speaker> ...`` lines; others fail."""
    if not path.is_file():
        raise CdaError(f"{path} does not exist", hint="give the hand-annotated RTTM file")
    turns: list[Turn] = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] != "SPEAKER" or len(parts) < 8:
            raise CdaError(
                f"{path}:{no}: not an RTTM SPEAKER line",
                hint="expected 'SPEAKER <file> <chan> <start> <duration> <NA> <NA> <speaker>'",
            )
        try:
            start, duration = float(parts[3]), float(parts[4])
        except ValueError:
            raise CdaError(
                f"{path}:{no}: start '{parts[3]}' or duration '{parts[4]}' is not a number",
                hint="fields 4 and 5 are seconds",
            ) from None
        if start < 0 or duration < 0:
            raise CdaError(f"{path}:{no}: negative start or duration", hint="fix the line")
        if duration > 0:
            turns.append((start, start + duration, parts[7]))
    if not turns:
        raise CdaError(f"{path}: no speaker turns", hint="is this the right RTTM file?")
    return turns


def _pieces(reference: list[Turn], hypothesis: list[Turn], collar: float):
    """Elementary intervals (start, end, reference speakers, hypothesis speakers) evaluated."""
    everything = reference + hypothesis
    low, high = min(t[0] for t in everything), max(t[1] for t in everything)
    collars = sorted(
        (max(low, b - collar), min(high, b + collar))
        for s, e, _ in reference
        for b in (s, e)
        if collar > 0
    )
    cuts = {low, high, *(t for s, e, _ in everything for t in (s, e))}
    cuts |= {t for a, b in collars for t in (a, b)}
    points = sorted(cuts)
    starts = [a for a, _ in collars]
    reach = []  # running maximum of collar ends, to test "inside any collar" by bisection
    for _, b in collars:
        reach.append(max(b, reach[-1]) if reach else b)
    for a, b in itertools.pairwise(points):
        if b <= a:
            continue
        mid = (a + b) / 2
        i = bisect.bisect_right(starts, mid) - 1
        if i >= 0 and reach[i] > mid:
            continue
        ref = {spk for s, e, spk in reference if s <= mid < e}
        hyp = {spk for s, e, spk in hypothesis if s <= mid < e}
        yield a, b, ref, hyp


def _pairing(pieces, ref_names: list[str], hyp_names: list[str]) -> dict[str, str]:
    from scipy.optimize import linear_sum_assignment

    if not ref_names or not hyp_names:
        return {}
    shared = [[0.0] * len(hyp_names) for _ in ref_names]
    r_at = {n: i for i, n in enumerate(ref_names)}
    h_at = {n: i for i, n in enumerate(hyp_names)}
    for a, b, ref, hyp in pieces:
        for r in ref:
            for h in hyp:
                shared[r_at[r]][h_at[h]] += b - a
    rows, cols = linear_sum_assignment(shared, maximize=True)
    return {ref_names[r]: hyp_names[c] for r, c in zip(rows, cols, strict=True) if shared[r][c] > 0}


def evaluate(reference: list[Turn], hypothesis: list[Turn], *, collar: float = 0.0) -> Evaluation:
    """DER and JER of ``hypothesis`` against ``reference`` with ``collar`` s either side."""
    if not reference:
        raise CdaError("the reference has no speaker turns", hint="annotate some speech first")
    pieces = list(_pieces(reference, hypothesis, collar))
    ref_names = sorted({t[2] for t in reference})
    hyp_names = sorted({t[2] for t in hypothesis})
    pairs = _pairing(pieces, ref_names, hyp_names)
    total = missed = false_alarm = confusion = 0.0
    ref_time = dict.fromkeys(ref_names, 0.0)
    hyp_time = dict.fromkeys(hyp_names, 0.0)
    both = dict.fromkeys(ref_names, 0.0)
    for a, b, ref, hyp in pieces:
        d = b - a
        correct = sum(1 for r in ref if pairs.get(r) in hyp)
        total += d * len(ref)
        missed += d * max(0, len(ref) - len(hyp))
        false_alarm += d * max(0, len(hyp) - len(ref))
        confusion += d * (min(len(ref), len(hyp)) - correct)
        for r in ref:
            ref_time[r] += d
            if pairs.get(r) in hyp:
                both[r] += d
        for h in hyp:
            hyp_time[h] += d
    der = (missed + false_alarm + confusion) / total if total > 0 else 0.0
    errors = []
    for r in (r for r in ref_names if ref_time[r] > 0):  # all in collars: not evaluated
        h = pairs.get(r)
        if h is None:
            errors.append(1.0)
            continue
        union = ref_time[r] + hyp_time[h] - both[r]
        errors.append((union - both[r]) / union if union > 0 else 0.0)
    jer = sum(errors) / len(errors) if errors else 1.0
    return Evaluation(
        collar=collar,
        der=der,
        jer=jer,
        total=total,
        missed=missed,
        false_alarm=false_alarm,
        confusion=confusion,
        mapping={r: pairs.get(r) for r in ref_names},
    )


COLLARS = (0.0, 0.25)
"""Seconds either side of each reference boundary: none, and the usual ±0.25 s."""


def recording_turns(ws: Workspace, recording_id: str) -> tuple[list[Turn], dict]:
    """The diarisation ``cda transcribe`` made for a recording, and what made it."""
    path = step_outputs(ws, recording_id)["diarise"]
    if not path.is_file():
        raise CdaError(
            f"no diarisation for '{recording_id}' ({ws.display(path)} does not exist)",
            hint="run `cda transcribe` with transcribe.diarise on first (and check the "
            "recording id: `cda status` lists them)",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        turns = [(float(t["start"]), float(t["end"]), str(t["speaker"])) for t in data["turns"]]
    except (ValueError, KeyError, TypeError):
        raise CdaError(
            f"{ws.display(path)} is damaged", hint="run `cda transcribe --force` to redo it"
        ) from None
    return turns, data


def evaluate_recording(ws: Workspace, recording_id: str, rttm: Path) -> list[Evaluation]:
    """DER/JER of a recording's diarisation against a hand-made RTTM, at every collar.

    The reference need not cover the whole recording: a researcher annotates a few minutes
    and the hypothesis is cut to the span the reference covers (first to last turn), so the
    unannotated rest does not count as false alarm.
    """
    reference = read_rttm_turns(rttm)
    hypothesis, _ = recording_turns(ws, recording_id)
    low, high = min(t[0] for t in reference), max(t[1] for t in reference)
    cut = [(max(s, low), min(e, high), k) for s, e, k in hypothesis if e > low and s < high]
    return [evaluate(reference, cut, collar=collar) for collar in COLLARS]
