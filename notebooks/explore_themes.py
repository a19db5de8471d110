# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exploring a round's themes
#
# Reads one coding round's tables from a workspace (after `make report`), recomputes the theme
# prevalence from the segments and codes, checks it against the report's `themes.csv`, and
# redraws two figures: each group's share of participant speaking time per theme, and which
# themes co-occur. Set `CDA_WORKSPACE` and `CDA_ROUND` to explore your own study; the default
# is the demo (`make demo`). Open it in Jupyter with jupytext (`pip install jupytext`), or run
# it as a script.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from pipeline.codebook import load_round
from pipeline.core.config import load_config
from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS, TOKENS
from pipeline.report.figures import cooccurrence
from pipeline.report.themes import load_assignments, prevalence

ws = Workspace.at(os.environ.get("CDA_WORKSPACE", Path.cwd().parent / "build" / "demo"))
round_no = int(os.environ.get("CDA_ROUND", "1"))
config = load_config(ws)
book = load_round(ws, config, round_no).book
segments = read_table(ws.segments, SEGMENTS)
tokens = read_table(ws.tokens, TOKENS)
report_dir = ws.report_dir(round_no)

# %% [markdown]
# Human codes under `report.coding_basis` when the round has been pulled from Label Studio (or
# imported), machine suggestions otherwise: the same rule as the report.

# %%
assigned, _ = load_assignments(ws, config, round_no, book)
print(f"{len(assigned.table)} theme assignments from {assigned.basis} ({assigned.rule or '-'})")

# %%
table = prevalence(segments, assigned.table, book, tokens=tokens, unresolved=assigned.unresolved)
reported = pd.read_csv(report_dir / "themes.csv")
pd.testing.assert_frame_equal(
    table.reset_index(drop=True), reported, check_dtype=False, check_exact=False
)
table.pivot(index="theme", columns="group", values="share").round(3)

# %%
labels = {c.id: c.label for c in book.codes}
shares = table.pivot(index="theme", columns="group", values="share").loc[book.ids]
ax = (100 * shares.rename(index=labels)).plot.barh(figsize=(7, 0.4 * len(shares) + 1))
ax.invert_yaxis()
ax.set_xlabel(f"% of the group's participant {table['share_of'].iloc[0]}")
out = report_dir / "notebook"
out.mkdir(exist_ok=True)
ax.figure.savefig(out / "theme-shares.png", dpi=100, bbox_inches="tight")
plt.close(ax.figure)

# %%
matrix = cooccurrence(assigned.table, book.ids)
fig, ax = plt.subplots(figsize=(6, 6))
ax.imshow(matrix.to_numpy(), cmap="Oranges")
ax.set_xticks(range(len(matrix)), [labels[c] for c in matrix.index], rotation=60, ha="right")
ax.set_yticks(range(len(matrix)), [labels[c] for c in matrix.index])
fig.savefig(out / "theme-cooccurrence.png", dpi=100, bbox_inches="tight")
plt.close(fig)
matrix.rename(index=labels, columns=labels)
