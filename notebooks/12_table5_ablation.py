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
# each radiomics map with HVA-CN (Eq. 6's indicator switches the other maps off), and the
# full model. FID against the real test images; SSIM and PSNR of each generated image
# against the real image whose prompt and controls it was given. The paper claims the full
# model beats every component and that adding a radiomics map to HVA-CN helps (§4.2.4).
# The paper's table has no Sobel + HVA-CN row; ours has one, with an empty paper cell.
#
# **Prerequisites.** Notebooks 03 and 07.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
inception_weights: str = ""  # local FID Inception weights, "" for study features

# %%
import numpy as np
import pandas as pd
from IPython.display import display

from radgazegen import evaluation, methods, metrics
from radgazegen.artifacts import Run
from radgazegen.book import profile_banner
from radgazegen.intervals import Evidence, save_evidence
from radgazegen.vocabulary import HVA, RADIOMICS_CONTROLS

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
mean = pd.DataFrame(index=rows, columns=["FID", *per_image], dtype=float)
std, cells, real_features = mean.copy(), {}, fid.features(gen.real)  # cells: the claims' intervals (chapter 14)
for name in rows:
    if name in gen.images:
        mean.loc[name, "FID"], std.loc[name, "FID"] = evaluation.per_replicate(fid, gen.images[name])
        cells[(name, "FID")] = Evidence("fid", "lower", features=np.stack([fid.features(x) for x in gen.images[name]]),
                                        real=real_features)
        for col, fn in per_image.items():
            mean.loc[name, col], std.loc[name, col], values = evaluation.per_replicate_items(fn, gen.images[name])
            cells[(name, col)] = Evidence("mean", "higher", values=values)
evaluation.save_result(run, "table5", mean, std, {"profile": profile, "metric": fid.name, "replicates": gen.replicates})
save_evidence(run.evidence_path("table5"), cells)
print(f"{fid.name}: lower is better; SSIM and PSNR (dB): higher is better; {profile} profile")
evaluation.mean_std(mean, std)

# %% [markdown]
# ## Beside the paper

# %%
evaluation.paper_beside(run, "table5", mean, profile).round(4)

# %% [markdown]
# ## The components side by side
# The first test item as each component generates it, beside the real image.

# %%
names = [("real", gen.real)] + [(n, gen.images[n][0]) for n in rows if n in gen.images]
from radgazegen.figures import image_grid

image_grid([ims[0] for _, ims in names], titles=[r for r, _ in names], ncols=4, cell=1.75,  # 8 panels: two rows
           suptitle=f"Ablation: one test item ({profile} profile)");
