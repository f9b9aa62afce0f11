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
#     upstream: [01_data_preparation, 07_generation]
# ---

# %% [markdown]
# # Table 2: controllability (SSIM, mIoU) and CLIP score
#
# **Overview.** Does a generated image follow the control it was given? For each radiomics
# control the same filter is applied to the generated image and compared with the control
# by SSIM; for the lung mask, notebook 02's segmenter is run on the generated image and its
# mask compared with the control by IoU (averaged: mIoU). The CLIP score measures agreement
# of image and prompt. The paper claims RadGazeGen beats SD and ControlNet on 3 of 5 columns.
#
# **Rows.** SD (text only; its images are still compared with the controls, as a floor),
# RoentGen (when its weights are given to notebook 07), T2I-Adapter and ControlNet given the
# column's control (the CLIP column uses their Canny variants, the paper's single-control
# baseline), Multi-ControlNet (all single-control ControlNets) and RadGazeGen (all controls).
#
# **CLIP score.** torchmetrics' `CLIPScore` with a local CLIP when `clip_dir` is given;
# otherwise a small image-report contrastive model trained here on the cohort's training
# radiographs and reports, named as such in the table. Its scale (100 x cosine) is CLIP's,
# its values are not comparable with CLIP's.
#
# **Prerequisites.** Notebooks 01 and 07.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR reports root
clip_dir: str = ""  # local CLIP model (transformers layout, e.g. ViT-B/16), "" to train the study's own
clip_epochs: int = 20  # epochs of the study's image-report model
seed: int = 0  # seed of the study's image-report model

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from radgazegen import evaluation, methods, metrics, standins, training_data
from radgazegen.artifacts import Run
from radgazegen.book import profile_banner
from radgazegen.intervals import Evidence, save_evidence
from radgazegen.models import clip_tokenizer
from radgazegen.vocabulary import CANNY, LABELS, RADIOMICS_MAPS, SEGMENTATION

run = Run(run_dir)
display(profile_banner(profile))
gen = evaluation.load_generated(run)
size = gen.real.shape[1]
prompts = gen.manifest["prompt"].tolist()
print(f"{len(gen.real)} test items at {size} px; {gen.replicates} replicate(s)")

# %% [markdown]
# ## The CLIP-score model

# %%
tok = clip_tokenizer(run.use("tokenizer"))
if clip_dir:
    clip_name = f"CLIP score ({Path(clip_dir).name})"
    clip = lambda images: metrics.clip_score_local(images, prompts, clip_dir, per_image=True)  # (N,) scores
else:
    train_items = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="train")
    train_images = np.stack([training_data.read_gray(it.image_path, size, "radiograph") for it in train_items])
    model, losses = standins.train_study_clip(train_images, standins.token_ids(tok, [it.prompt for it in train_items]),
                                              epochs=clip_epochs, size=size, seed=seed)
    model.save(run.chapter_dir("09_table2_controllability") / "study_clip")
    clip_name = model.name
    ids = standins.token_ids(tok, prompts)
    clip = lambda images: model.score(images, ids)  # (N,) scores
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.plot(losses)
    ax.set_xlabel("epoch")
    ax.set_ylabel("contrastive loss")
    ax.set_title(f"study image-report model ({len(train_items)} training pairs, {profile})", fontsize=8)
    fig.tight_layout()
    shuffled = np.roll(np.arange(len(prompts)), 1)
    print(f"{clip_name}: real test images with their own reports {clip(gen.real).mean():.2f}, "
          f"with another item's report {float(model.score(gen.real, ids[shuffled]).mean()):.2f}")

# %% [markdown]
# ## Controllability per method

# %%
columns = {**{f"{LABELS[c]} (SSIM)": c for c in RADIOMICS_MAPS}, "Segment. (mIoU)": SEGMENTATION}
rows = list(methods.FAMILIES)
lung_control = (gen.controls[SEGMENTATION] > 0).astype(np.uint8) * 255


def row_method(row: str, c: str) -> methods.Method | None:
    """Row ``row`` (a family) for control ``c``: the single-control baselines on ``c``, the others as they are."""
    if row in (methods.T2I_ADAPTER, methods.SINGLE_CONTROLNET):
        return gen.methods.single(row, c)
    return gen.methods.get(row)


def score(images: np.ndarray, c: str) -> np.ndarray:
    """``(N,)`` per-image scores of ``images`` against the test items' control ``c``."""
    if c == SEGMENTATION:
        return metrics.mean_iou(evaluation.lung_masks(images), lung_control, per_image=True)
    return metrics.controllability(images, {c: gen.controls[c]}, per_image=True)[f"{c} (SSIM)"]


clip_column = "Style/Content (CLIP Score)"
mean = pd.DataFrame(index=rows, columns=[*columns, clip_column], dtype=float)
std, cells = mean.copy(), {}  # cells: per-finding, per-seed scores (the claims' intervals, chapter 14)
for r in rows:
    for col, fn, c in [*((col, lambda x, c=c: score(x, c), c) for col, c in columns.items()),
                       (clip_column, clip, CANNY)]:  # the CLIP column: the single-control baselines on Canny, as the paper's
        method = row_method(r, c)
        if method is not None and method.name in gen.images:
            mean.loc[r, col], std.loc[r, col], values = evaluation.per_replicate_items(fn, gen.images[method.name])
            cells[(r, col)] = Evidence("mean", "higher", values=values)
mean.loc["real test images"] = [score(gen.real, c).mean() for c in columns.values()] + [clip(gen.real).mean()]
std.loc["real test images"] = 0.0
evaluation.save_result(run, "table2", mean, std, {"profile": profile, "clip": clip_name, "replicates": gen.replicates,
                                                      "availability": gen.availability})
save_evidence(run.evidence_path("table2"), cells)
print(f"higher is better; CLIP column: {clip_name}; RoentGen: {gen.availability.get(methods.ROENTGEN, 'not run')}")
evaluation.mean_std(mean, std)

# %% [markdown]
# The last row scores the real test images against their own controls: the ceiling a
# generator can reach with these filters and this segmenter.
#
# ## Beside the paper

# %%
table = evaluation.paper_beside(run, "table2", mean, profile)
table.round(4)
