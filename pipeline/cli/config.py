"""``cda config sync|show``: the study configuration and the per-stage snapshots make depends on
(:mod:`pipeline.core.config`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli._util import WorkspaceOpt, config_app, load_study, out


@config_app.command("sync")
def config_sync_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Write each stage's settings to .cda/config/<stage>.json, only where they changed.

    The Makefile depends on these snapshots, so editing one section reruns only its stage.
    """
    from pipeline.core import registry
    from pipeline.core.config import STAGES, config_inputs, stage_snapshot
    from pipeline.core.io import write_text

    ws, config = load_study(workspace)
    changed = [
        stage
        for stage in STAGES
        if write_text(
            ws.stage_config_file(stage), stage_snapshot(config, stage), only_if_changed=True
        )
    ]
    # .synced is an included makefile: it names the inputs that settings point at
    paths = [
        f"{registry.make_var(stage)}_CONFIG_INPUTS = "
        + " ".join(_make_input(ws.root / path) for path in config_inputs(config, stage))
        for stage in STAGES
        if registry.stage(stage).config_inputs
    ]
    write_text(
        ws.state_dir / "config" / ".synced",
        "# written by `cda config sync`\n" + "".join(f"{line}\n" for line in paths),
        only_if_changed=False,
    )
    if changed:
        out.print(f"settings changed for: {', '.join(changed)}")


@config_app.command("show")
def config_show_cli(workspace: WorkspaceOpt = Path(".")) -> None:
    """Print the validated configuration with all defaults filled in."""
    import yaml

    _, config = load_study(workspace)
    out.print(
        yaml.safe_dump(
            config.model_dump(mode="json", by_alias=True), sort_keys=False, allow_unicode=True
        )
    )


def _make_input(path: Path) -> str:
    """A settings-named file as a make prerequisite: escaped where it exists; where it does not
    (yet), a ``$(wildcard)`` that notices it appear, or FORCE for a name make cannot glob."""
    from pipeline.core import registry

    if path.exists():
        return registry.make_words([str(path)])
    plain = registry.make_escape(str(path)) == str(path)
    return f"$(wildcard {path})" if plain else "FORCE"
