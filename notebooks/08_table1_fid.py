# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   radgazegen:
#     upstream: [03_hypotheses, 07_generation]
# ---

# %% [markdown]
# # Table 1: image quality (FID) per control and method
#
# **Overview.** The paper reports the Fréchet distance between generated and real test
# radiographs for each control (Canny, Sobel, GL, segmentation, HVA) and each method
# (T2I-Adapter, ControlNet, Multi-ControlNet, RadGazeGen), and claims that RadGazeGen is best
# on 4 of 5 controls and beats ControlNet and Multi-ControlNet on all five (§4.2.1).
#
# **What each cell is here.** The paper does not say which controls the multi-control
# methods receive in each column; we read a column as "this control, plus the gaze control
# for the methods built to combine controls":
#
# | column | T2I-Adapter | ControlNet | Multi-ControlNet | RadGazeGen |
# |---|---|---|---|---|
# | a radiomics map *c* | adapter on *c* | ControlNet on *c* | ControlNets on *c* and HVA, combined | Rad-CN with only *c* on (Eq. 6's indicator) + HVA-CN |
# | HVA | adapter on HVA | ControlNet on HVA | all five single ControlNets | all controls |
#
# All methods use the same prompts, controls and seeds (notebook 07). FID uses Inception-v3
# features when their weights are given (`inception_weights`), otherwise the encoder that
# notebook 03 trained on the cohort; the column header names which.
#
# **Prerequisites.** Notebooks 03 and 07.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
inception_weights: str = ""  # local FID Inception weights (pt_inception-2015-12-05-6726825d.pth), "" for study features

# %%
import numpy as np
import pandas as pd
from IPython.display import display

from radgazegen import evaluation, methods
from radgazegen.artifacts import Run
from radgazegen.intervals import Evidence, save_evidence
from radgazegen.book import profile_banner
from radgazegen.paper import paper_table
from radgazegen.vocabulary import CONTROLS, HVA, LABELS

run = Run(run_dir)
display(profile_banner(profile))
gen = evaluation.load_generated(run)
fid = evaluation.fid_metric(run, inception_weights, real=gen.real)  # real features once
print(f"{len(gen.real)} real test images; {gen.replicates} replicate(s) per method; metric: {fid.name}")

# %% [markdown]
# ## FID per control and method

# %%
columns = {LABELS[c]: c for c in CONTROLS}


def cell_method(row: str, c: str) -> methods.Method | None:
    """Row ``row`` (a family) in column ``c``: the single-control baselines on ``c``; Multi-ControlNet and
    RadGazeGen on ``c`` + HVA, and with every control in the HVA column."""
    if row in (methods.T2I_ADAPTER, methods.SINGLE_CONTROLNET):
        return gen.methods.single(row, c)
    return gen.methods.get(row) if c == HVA else gen.methods.find(row, (c, HVA))


rows = [methods.T2I_ADAPTER, methods.SINGLE_CONTROLNET, methods.MULTI_CONTROLNET, methods.RADGAZEGEN]
mean = pd.DataFrame(index=rows, columns=list(columns), dtype=float)
std = mean.copy()
real_features, cells = fid.features(gen.real), {}  # per-finding features: the claims' intervals (chapter 14)
for r in rows:
    for col, c in columns.items():
        method = cell_method(r, c)
        if method is not None and method.name in gen.images:
            mean.loc[r, col], std.loc[r, col] = evaluation.per_replicate(fid, gen.images[method.name])
            cells[(r, col)] = Evidence("fid", "lower", features=np.stack([fid.features(x) for x in gen.images[method.name]]),
                                       real=real_features)
evaluation.save_result(run, "table1", mean, std, {"profile": profile, "metric": fid.name, "replicates": gen.replicates,
                                                      "n_images": len(gen.real)})
save_evidence(run.evidence_path("table1"), cells)
print(f"{fid.name}, lower is better; mean ± std over {gen.replicates} replicate(s) ({profile} profile)")
evaluation.mean_std(mean, std)

# %% [markdown]
# ## Beside the paper
# The paper's values come from `radgazegen/paper_values.yaml`; they were computed on real
# radiographs with Inception features, so only the ordering of methods is comparable, not the
# values.

# %%
table = evaluation.paper_beside(run, "table1", mean, profile)
table.round(4)

# %% [markdown]
# ## Which method is best per control

# %%
best = pd.DataFrame({"paper": paper_table("table1").idxmin().replace(evaluation.paper_rows("table1")),
                     f"this run ({profile})": mean.astype(float).idxmin()})
best
