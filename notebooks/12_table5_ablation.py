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
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from radgazegen import evaluation, metrics
from radgazegen.book import profile_banner
from radgazegen.paper import beside

display(profile_banner(profile))
gen = evaluation.load_generated(run_dir)
fid = evaluation.fid_metric(run_dir, inception_weights)
print(f"{len(gen.real)} test items; {gen.replicates} replicate(s); {fid.name}")

# %%
rows = {"Rad-CN": "Rad-CN", "HVA-CN": "HVA-CN", "Canny+HVA-CN": "RadGazeGen (canny + hva)",
        "Sobel+HVA-CN": "RadGazeGen (sobel + hva)", "GL+HVA-CN": "RadGazeGen (gl + hva)",
        "Segmentation+HVA-CN": "RadGazeGen (segmentation + hva)", "RadGazeGen": "RadGazeGen"}
scores = {"FID": lambda x: fid(gen.real, x), "SSIM": lambda x: metrics.ssim(x, gen.real),
          "PSNR": lambda x: metrics.psnr(x, gen.real)}
mean = pd.DataFrame(index=list(rows), columns=list(scores), dtype=float)
std = mean.copy()
for r, name in rows.items():
    if name in gen.images:
        for col, fn in scores.items():
            mean.loc[r, col], std.loc[r, col] = evaluation.per_replicate(fn, gen.images[name])
evaluation.save_result(run_dir, "table5", mean, std, {"profile": profile, "metric": fid.name, "replicates": gen.replicates})
print(f"{fid.name}: lower is better; SSIM and PSNR (dB): higher is better; {profile} profile")
evaluation.mean_std(mean, std)

# %% [markdown]
# ## Beside the paper

# %%
beside("table5", mean, {r: r for r in rows}, profile).round(4)

# %% [markdown]
# ## The components side by side
# The first test item as each component generates it, beside the real image.

# %%
names = [("real", gen.real)] + [(r, gen.images[n][0]) for r, n in rows.items() if n in gen.images]
fig, axes = plt.subplots(1, len(names), figsize=(1.7 * len(names), 2.1))
for ax, (r, ims) in zip(axes, names):
    ax.imshow(ims[0], cmap="gray")
    ax.set_title(r, fontsize=6)
    ax.axis("off")
fig.suptitle(f"Ablation: one test item ({profile} profile)", fontsize=9)
fig.tight_layout()
