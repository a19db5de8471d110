"""``cda pseudonymise``: pseudonyms and name masking, with the notes an analyst must review
(:mod:`pipeline.pseudonymise`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli._util import WorkspaceOpt, app, load_study, out, say


@app.command("pseudonymise")
def pseudonymise_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Replace speaker labels by pseudonyms and mask names (listed, and from labels) in the text."""
    from pipeline.pseudonymise import pseudonymise, review

    ws, config = load_study(workspace)
    result = pseudonymise(ws, config)
    per_rec = result.replacements.groupby("recording_id")["replacements"].sum()
    for rid in sorted(result.segments["recording_id"].unique()):
        speakers = result.segments.loc[result.segments["recording_id"] == rid, "speaker"].nunique()
        out.print(f"{rid}: {speakers} speaker(s), {int(per_rec.get(rid, 0))} name replacement(s)")
    if result.corrected:
        out.print(
            f"{len(result.corrected)} segment(s) corrected from "
            f"{ws.display(ws.corrections)} (text and speaker; ids unchanged)"
        )
    if result.stale_corrections:
        say(
            f"warning: {len(result.stale_corrections)} corrected segment(s) now have another "
            "transcript text than the corrector was shown (re-imported, or names changed); the "
            f"correction was applied, check it: {', '.join(result.stale_corrections[:5])}"
        )
    for notice in result.notices:
        say(f"note: {notice}")
    for rid in result.no_facilitator:
        say(
            f"note: {rid}: no facilitator found among its speaker labels; if one of them leads "
            "the session, add that label to pseudonymise.facilitator_labels in cda.yaml "
            f"(a plain label, or '{rid}:<label>' for this recording only)"
        )
    for change in result.role_changes:
        say(
            f"note: {change.recording_id}: {change.pseudonym} is now {change.after} "
            f"(was {change.before}), following pseudonymise.facilitator_labels; "
            "the pseudonym stays"
        )
    for merge in result.person_merges:
        say(
            f"note: {merge.recording_id}: {merge.before} is now {merge.after}, the same person "
            f"as {merge.after} (the person column of {ws.display(ws.speaker_key)})"
        )
    warnings = review(result.terms)
    shown = warnings[:_REVIEW_SHOWN]
    for warning in shown:
        say(f"warning: {warning}")
    if len(warnings) > len(shown):
        say(f"... and {len(warnings) - len(shown)} more warning(s)")
    if warnings:
        say(f"every masked term, with counts: {ws.display(ws.masked_terms)}")


_REVIEW_SHOWN = 15
