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
# # Table 5: ablation of RadGazeGen's components
#
# **Overview.** Rad-CN alone (all radiomics maps, HVA-CN off), HVA-CN alone (Rad-CN off),
# each radiomics map with HVA-CN (the indicator of Eq. 6, {eq}`eq-07-indicator` in the
# generation chapter, switches the other maps off), and the full model
# ({cite:t}`bhattacharya2024radgazegen`, §4.2.4, Table 5). FID {cite}`heusel2017fid`, as in
# Table 1's chapter, against the real test images; SSIM {cite}`wang2004ssim`, as in
# {eq}`eq-09-ssim`, and PSNR of each generated image $\hat{x}$ against the real image
# $x$ whose prompt and controls it was given, with 8-bit intensities:
#
# $$
# \mathrm{PSNR}(\hat{x}, x) = 10 \log_{10} \frac{255^2}{\frac{1}{HW} \sum_{u, v} \left( \hat{x}_{uv} - x_{uv} \right)^2}\ \mathrm{dB}.
# $$ (eq-12-psnr)
#
# The paper claims the full model beats every component and that adding a radiomics map to
# HVA-CN helps. The paper's table has no Sobel + HVA-CN row; ours has one, with an empty
# paper cell.
#
# **Prerequisites.** Notebooks 03 and 07.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
inception_weights: str = ""  # local FID Inception weights, "" for study features
show_real_images: bool = True  # figures may embed radiographs read from the data roots (full: false, credentialed data; see README)

# %%
from IPython.display import display

from radgazegen import metrics
from radgazegen.metrics import evaluation, tables
from radgazegen.generation import methods
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner
from radgazegen.figures import glue_figure, image_grid, withheld
from radgazegen.core.vocabulary import HVA, RADIOMICS_CONTROLS

run = Run(run_dir)
display(profile_banner(profile))
gen = evaluation.load_generated(run)
fid = evaluation.fid_metric(run, inception_weights, real=gen.real)  # real features once
print(f"{len(gen.real)} test items; {gen.replicates} replicate(s); {fid.name}")

# %%
known = methods.catalogue()  # the ablation's rows: Rad-CN, HVA-CN, each radiomics control + HVA-CN, the full model
rows = [methods.RAD_CN, methods.HVA_CN, *(known.find(methods.RADGAZEGEN, (c, HVA)).name for c in RADIOMICS_CONTROLS),
        methods.RADGAZEGEN]
per_image = {"SSIM": lambda x: metrics.ssim(x, gen.real, per_image=True),
             "PSNR": lambda x: metrics.psnr(x, gen.real, per_image=True)}
real_features = fid.features(gen.real)  # the FID cells' evidence: the claims' intervals (chapter 14)
measure = tables.by_column({"FID": tables.fid_measure(fid, real_features), **dict.fromkeys(per_image, tables.items_measure(per_image))})
table5 = tables.build(rows, {c: c for c in ["FID", *per_image]}, lambda name, c: name, measure, gen.images)  # a row is a method
mean, std, cells = table5.mean, table5.std, table5.cells
table5.save(run, "table5", {"profile": profile, "metric": fid.name, "replicates": gen.replicates})
print(f"{fid.name}: lower is better; SSIM and PSNR (dB): higher is better; {profile} profile")
evaluation.mean_std(mean, std)

# %% [markdown]
# ## Beside the paper

# %%
evaluation.paper_beside(run, "table5", mean, profile).round(4)

# %% [markdown]
# ## The components side by side
# The first test item as each component generates it, beside the real image
# ({numref}`fig-12-components`).

# %%
names = [("real", withheld(gen.real, show_real_images))] + [(n, gen.images[n][0]) for n in rows if n in gen.images]
glue_figure("fig-12-components", image_grid([ims[0] for _, ims in names], titles=[r for r, _ in names], ncols=4,
                                            cell=1.6) if len(gen.real) else None, empty="No test item in this run.")

# %% [markdown]
# ```{glue:figure} fig-12-components
# :name: fig-12-components
# :alt: A grid of one real radiograph and the images generated for it by each ablation row: Rad-CN, HVA-CN, each radiomics map with HVA-CN, and the full RadGazeGen.
#
# One test item ({glue:text}`profile` profile): the real image and each component of the
# ablation, same prompt and seed. Look at what each control adds: the radiomics maps carry
# the outline and texture, the gaze control the finding's place.
# ```

# %%
glue("profile", profile)
glue("metric", fid.name)
glue("n_items", len(gen.real))
glue("n_replicates", gen.replicates)
for name, value in tables.ablation_summary(mean, with_map_rows=rows[2:-1]).items():  # n_parts, full_fid, beats_fid, ...
    glue(name, value)

# %% [markdown]
# ## What this run shows
# On {glue:text}`n_items` test items ({glue:text}`n_replicates` replicate(s)), the full model
# has FID {glue:text}`full_fid:.4f` ({glue:text}`metric`), SSIM {glue:text}`full_ssim:.4f` and
# PSNR {glue:text}`full_psnr:.2f` dB by {eq}`eq-12-psnr`. It beats {glue:text}`beats_fid`,
# {glue:text}`beats_ssim` and {glue:text}`beats_psnr` of the {glue:text}`n_parts` components
# on FID, SSIM and PSNR respectively, and adding one radiomics map to HVA-CN lowers the FID in
# {glue:text}`map_helps_fid` of {glue:text}`n_with_map` cases. Per-image values behind every
# cell are saved for chapter 14's intervals.
#
# ## What it cannot show
# In the {glue:text}`profile` profile the models are barely trained and the test set is a
# handful of items, so these orderings are not evidence (chapter 14 says which differences
# exceed the noise). HVA-CN alone runs without the Rad-CN it was trained over, outside its
# training, as the paper's row does. SSIM and PSNR against the real image reward copying
# it, not a plausible new radiograph.
