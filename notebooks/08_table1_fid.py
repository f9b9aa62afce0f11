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
# **Overview.** The paper reports the Fréchet Inception Distance (FID)
# {cite}`heusel2017fid` between generated and real test radiographs for each control (Canny,
# Sobel, GL, segmentation, HVA) and each method (T2I-Adapter {cite}`mou2024t2iadapter`,
# ControlNet and Multi-ControlNet {cite}`zhang2023controlnet`, RadGazeGen), and claims that
# RadGazeGen is best on most controls and beats ControlNet and Multi-ControlNet on all five
# ({cite:t}`bhattacharya2024radgazegen`, §4.2.1). FID fits a Gaussian to the features
# $\phi(x)$ of the real images ($\mu_r, \Sigma_r$) and of the generated ones ($\mu_g,
# \Sigma_g$) and measures the Fréchet distance between the two:
#
# $$
# \mathrm{FID} = \left\lVert \mu_r - \mu_g \right\rVert_2^2 + \mathrm{Tr}\left( \Sigma_r + \Sigma_g - 2 \left( \Sigma_r \Sigma_g \right)^{1/2} \right).
# $$ (eq-08-fid)
#
# Lower is better. The features are Inception-v3's {cite}`szegedy2016inception` pool
# features, computed by torchmetrics {cite}`detlefsen2022torchmetrics` as the authors do.
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
# notebook 03 trained on the cohort, in {eq}`eq-08-fid` all the same; the table names which.
#
# **Prerequisites.** Notebooks 03 and 07.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
inception_weights: str = ""  # local FID Inception weights (pt_inception-2015-12-05-6726825d.pth), "" for study features
n_boot: int = 200  # bootstrap resamples of each fidelity cell's interval (findings and seeds)

# %%
import numpy as np
import pandas as pd
from IPython.display import display

from radgazegen.metrics import evaluation, fidelity, fidelity_table, tables
from radgazegen.generation import methods
from radgazegen.core.artifacts import Run
from radgazegen.core.intervals import Evidence
from radgazegen.figures.book import glue, profile_banner
from radgazegen.core.paper import paper_table
from radgazegen.core.vocabulary import CONTROLS, HVA, LABELS

run = Run(run_dir)
display(profile_banner(profile))
gen = evaluation.load_generated(run)
fid = evaluation.fid_metric(run, inception_weights, real=gen.real)  # real features once
print(f"{len(gen.real)} real test images; {gen.replicates} replicate(s) per method; metric: {fid.name}")

# %% [markdown]
# ## FID per control and method

# %%
columns = {LABELS[c]: c for c in CONTROLS}
cell_method = lambda row, c: tables.table1_method(gen.methods, row, c)  # the cell's method, or None
rows = [methods.T2I_ADAPTER, methods.SINGLE_CONTROLNET, methods.MULTI_CONTROLNET, methods.RADGAZEGEN]
real_features = fid.features(gen.real)  # per-finding features: the claims' intervals (chapter 14)
table1 = tables.build(rows, columns, cell_method, tables.fid_measure(fid, real_features), gen.images)
mean, std, cells = table1.mean, table1.std, table1.cells
table1.save(run, "table1", {"profile": profile, "metric": fid.name, "replicates": gen.replicates, "n_images": len(gen.real)})
print(f"{fid.name}, lower is better; mean ± std over {gen.replicates} replicate(s) ({profile} profile)")
evaluation.mean_std(mean, std)

# %% [markdown]
# ## Beside the paper
# The paper's values come from `radgazegen/core/paper_values.yaml`; they were computed on real
# radiographs with Inception features, so only the ordering of methods is comparable, not the
# values.

# %%
table = evaluation.paper_beside(run, "table1", mean, profile)
table.round(4)

# %% [markdown]
# ## Which method is best per control

# %%
computed = mean.astype(float).dropna(axis=1, how="all")  # a profile without the baselines fills few cells
best = pd.DataFrame({"paper": paper_table("table1").idxmin().replace(evaluation.paper_rows("table1")),
                     f"this run ({profile})": computed.idxmin().reindex(mean.columns)})
best

# %%
rg = mean.loc[methods.RADGAZEGEN].astype(float)
beats = {r: int((rg < mean.loc[r].astype(float)).sum()) for r in (methods.SINGLE_CONTROLNET, methods.MULTI_CONTROLNET)}
glue("profile", profile)
glue("metric", fid.name)
glue("n_real", len(gen.real))
glue("n_replicates", gen.replicates)
glue("n_cells", int(mean.notna().to_numpy().sum()))
glue("n_columns", len(columns))
glue("rg_best", int((best[f"this run ({profile})"] == methods.RADGAZEGEN).sum()))
glue("paper_rg_best", int((best["paper"] == methods.RADGAZEGEN).sum()))
glue("rg_beats_cn", beats[methods.SINGLE_CONTROLNET])
glue("rg_beats_multi", beats[methods.MULTI_CONTROLNET])
glue("rg_fid_hva", float(rg[LABELS[HVA]]))

# %% [markdown]
# ## RadGazeGen at the authors' sampler settings
# The authors' released REFLACX script samples RadGazeGen with each Rad-CN ControlNet at 0.1,
# HVA-CN at 0.001 and a negative prompt; this study's rows use scale 1.0 and no negative
# prompt. Chapter 07 generated both from the same prompts, controls, seeds and steps
# (`radgazegen.generation.methods.AUTHORS_SAMPLER`); here they are side by side in the HVA
# column (every control), with the difference authors' minus study's and its 95% interval
# over findings and seeds. The row is not part of the table above or of the claims.

# %%
authors = gen.methods.get(methods.AUTHORS_SAMPLER)
if authors is not None and authors.name in gen.images:
    col = LABELS[HVA]
    both = {**cells, (authors.name, col): Evidence("fid", "lower", real=real_features,
                                                   features=np.stack([fid.features(x) for x in gen.images[authors.name]]))}
    display(evaluation.two_settings(both, methods.RADGAZEGEN, authors.name, [col], n_boot=n_boot).round(4))
else:
    print(f"{methods.AUTHORS_SAMPLER}: not generated in this run (chapter 07's methods_generated)")

# %% [markdown]
# ## Fidelity beyond FID, per pathology
# Since the paper, CheXGenBench {cite}`dutt2025chexgenbench` reports beside FID: KID
# (unbiased, so usable on few images), precision / recall / density / coverage with k = 5
# (fewer when a run has fewer than 7 test images: the table's caption gives the k used)
# (fidelity: do generated images fall among the real ones; diversity: do they reach all of
# them), and a Fréchet Radiomics Distance, each per pathology. Here they are computed by the
# libraries that define them (torchmetrics' KID, the `prdc` package) on the same features as
# FID above, and the FRD on the study's radiomics maps' statistics (pyradiomics does not
# install here: a deviation, `radgazegen.metrics.radiomics_distance`), for SD, Rad-CN, HVA-CN
# and each method of the HVA column (all its controls) that this run generated, with 95%
# intervals over findings and seeds.

# %%
shown = fidelity_table.fidelity_rows(gen.methods, gen.images, rows, cell_method)
by_pathology, k = fidelity_table.fidelity_by_pathology(fid, real_features, gen, shown, n_boot=n_boot)
overall = fidelity_table.overall_table(by_pathology, fid.name)
print(f"{profile} profile; value [95% interval] over {len(gen.real)} findings x {gen.replicates} seed(s); "
      f"PRDC with k = {k}; KID and FRD lower is better, the others higher")
overall

# %% [markdown]
# Per pathology (the findings of each label; few findings give wide intervals, the `n`
# column says how many):

# %%
per_label = fidelity.pathology_table(by_pathology)
glue("n_fidelity_pathologies", int(per_label.index.get_level_values("pathology").nunique()))
per_label

# %% [markdown]
# ## What this run shows
# {glue:text}`n_cells` cells of Table 1 were computed with {glue:text}`metric` on
# {glue:text}`n_real` real test images ({glue:text}`n_replicates` replicate(s) per method).
# RadGazeGen has the lowest FID on {glue:text}`rg_best` of the {glue:text}`n_columns`
# controls (the paper: {glue:text}`paper_rg_best`), a lower FID than ControlNet on
# {glue:text}`rg_beats_cn` and than Multi-ControlNet on {glue:text}`rg_beats_multi` of them;
# with all controls (the HVA column) its FID is {glue:text}`rg_fid_hva:.4f`. The per-finding
# features behind every cell are saved for chapter 14's intervals.
#
# ## What it cannot show
# With {glue:text}`n_real` real images, {eq}`eq-08-fid`'s covariances are estimated from far
# fewer samples than feature dimensions, so in the {glue:text}`profile` profile the values
# carry a large bias and the ordering of methods is not evidence; chapter 14's intervals say
# which differences exceed that noise. Without Inception weights the features are the
# study's own, so the numbers are not the paper's quantity, and only the ordering of methods
# can be compared with it.
