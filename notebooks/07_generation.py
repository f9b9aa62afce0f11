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
#     upstream: [01_data_preparation, 02_control_maps, 03_hypotheses, 04_sd_cxr, 05_rad_cn, 06_hva_cn]
# ---

# %% [markdown]
# # Generation: RadGazeGen and the baselines, and the qualitative figures
#
# **Overview.** RadGazeGen generates with SD-CXR steered by the frozen Rad-CN and HVA-CN
# together: their residuals, each scaled by its conditioning scale, are summed into the
# U-Net (Eq. 6); an indicator switches any control off. Generation is the stock diffusers
# `StableDiffusionControlNetPipeline` built from our saved models, so these images are what
# any diffusers user gets with the same seeds.
#
# Every method generates from the same test prompts, controls and seeds: SD (text only),
# one ControlNet per control, T2I-Adapter per control, Multi-ControlNet (the single-control
# ControlNets combined), RoentGen (when its weights are given) and RadGazeGen. The images
# and a manifest per method go to `07_generation/<method>/`; the table chapters read them.
# Then the analogues of the paper's Figs. 5, 6 and 7.
#
# **Sampler.** The `full` profile uses the authors' released inference settings (their
# repository's generation script, `../shared/notes/method.md`): UniPC, 50 steps, the
# negative prompt "monochrome, lowres, bad anatomy, worst quality, low quality", seed 3407,
# conditioning scales 0.1 for each radiomics ControlNet and 0.001 for HVA-CN (their REFLACX
# setting); guidance is diffusers' default 7.5 (the script sets none). `teach` and `smoke`
# sample with fewer steps and unit scales to fit their budgets, and say so in their
# parameter files. Guidance is trained: prompts were emptied at `proportion_empty_prompts`
# during training (chapters 04-06), so the unconditional branch is not an untrained model.
#
# **Prerequisites.** SD-CXR, Rad-CN, HVA-CN and the baselines.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR reports root
ground_truth_root: str = "runs/smoke/cohort"  # synthetic cohort root with ground_truth/, or "" for real data
roentgen_dir: str = ""  # local RoentGen directory (diffusers layout), or "" if not available
scheduler: str = "unipc"  # sampler (authors: UniPC)
sample_steps: int = 10  # denoising steps (authors' released inference: 50)
guidance: float = 3.0  # classifier-free guidance scale (the authors' script sets none: diffusers' 7.5)
negative_prompt: str = ""  # negative prompt, "" for none (authors: "monochrome, lowres, bad anatomy, worst quality, low quality")
rad_cn_scale: float = 1.0  # conditioning scale of Rad-CN in RadGazeGen (Eq. 6)
hva_cn_scale: float = 1.0  # conditioning scale of HVA-CN in RadGazeGen (Eq. 6)
n_generate: int = 6  # test (image, finding) items generated per method, -1 for all
n_examples: int = 3  # rows of the qualitative figures
seed: int = 0  # base seed: item i of replicate r uses seed + 1000 r + i for every method
n_replicates: int = 1  # generations of the test set per method with different seeds (mean +- std in the tables)
methods_generated: list = []  # names of the methods to generate (e.g. ["SD", "Rad-CN", "HVA-CN", "RadGazeGen"]), [] for all

# %%

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from PIL import Image
from radgazegen.progress import tqdm

from radgazegen import generation, gaze, methods, training_data
from radgazegen.artifacts import Run
from radgazegen.book import profile_banner
from radgazegen.io import atomic_path, write_json
from radgazegen.synthetic import read_ground_truth
from radgazegen.labels import FINDING_KEYWORDS, LT_TAIL
from radgazegen.vocabulary import CANNY, CONTROLS

run = Run(run_dir)
out_dir = run.generation_dir()
sd_dir, rad, hva = run.read_models()
resolution = rad["resolution"]
device = "cuda" if torch.cuda.is_available() else "cpu"
neg = negative_prompt or None
display(profile_banner(profile))

# %% [markdown]
# ## Test prompts and controls
# One item per reported test finding with gaze: the report as prompt, the test image's
# radiomics maps and lung mask, and its gaze-guided hypothesis.

# %%
controls = list(CONTROLS)
items = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test", gaze=True)
hyp = run.read_hypotheses()
findings = [r.finding for r in hyp.itertuples() if r.split == "test" and r.dicom_id in {it.dicom_id for it in items}]
items = items[:n_generate] if n_generate >= 0 else items
findings = findings[:len(items)]
test = training_data.ControlDataset(items, resolution, controls=controls)
batch = test(np.arange(len(test)))
seeds = [seed + i for i in range(len(test))]
print(f"{len(test)} test items x {n_replicates} replicate(s); resolution {resolution}; "
      f"{sample_steps} {scheduler} steps, guidance {guidance}")

# the real test images and their controls, for the table notebooks (08-13)
real = training_data.to_uint8(batch.pixel_values)
generation.write_generation(out_dir / "real", real, [{"dicom_id": it.dicom_id, "finding": f, "prompt": p, "controls": [],
                                                     "scales": [], "seed": -1, "replicate": 0, "model": "real"}
                                                    for it, f, p in zip(items, findings, batch.prompts)])
with atomic_path(out_dir / "controls.npz") as tmp, open(tmp, "wb") as f:
    np.savez_compressed(f, **{c: training_data.to_uint8(batch.conditioning[c] * 2 - 1) for c in controls})

# %% [markdown]
# ## Every method, same prompts, controls and seeds
# The methods come from the trained models (`radgazegen.methods.build`): SD, a ControlNet
# and a T2I-Adapter per control, Multi-ControlNet (all single-control ControlNets; Canny +
# lung mask; each radiomics map + HVA), and RadGazeGen with its ablations (Eq. 6 with the
# indicator: Rad-CN, HVA-CN, each map + HVA-CN). One sampler holds SD-CXR, loaded once, and
# each ControlNet and adapter, loaded once.

# %%
registry = methods.build(rad, hva, rad_cn_scale, hva_cn_scale)
if methods_generated:  # lesson: only what the central claim needs
    registry = registry.subset(methods_generated)
sampler = generation.Sampler(sd_dir, scheduler, device)
availability = {methods.ROENTGEN: "available" if roentgen_dir else "not available (no local weights given)"}

generated, manifests = {}, {}
for name, method in tqdm(registry.items(), desc="methods", disable=None):
    images, rows = [], []
    for r in range(n_replicates):
        s_r = [s + 1000 * r for s in seeds]
        images.append(sampler.sample(method, batch.prompts, batch.conditioning, seeds=s_r, steps=sample_steps,
                                     guidance=guidance, negative_prompt=neg, resolution=resolution))
        rows += [{"dicom_id": it.dicom_id, "finding": f, "prompt": p, "controls": list(method.inputs),
                  "scales": list(method.scales), "seed": s, "replicate": r, "model": name}
                 for it, f, p, s in zip(items, findings, batch.prompts, s_r)]
    manifests[name] = generation.write_generation(out_dir / method.folder, np.concatenate(images), rows)
    generated[name] = images[0]
if roentgen_dir:
    roentgen = methods.roentgen()
    registry = methods.Registry([*registry.values(), roentgen])
    generated[roentgen.name] = generation.Sampler(roentgen_dir, scheduler, device).sample(
        roentgen, batch.prompts, seeds=seeds, steps=sample_steps, guidance=guidance, negative_prompt=neg,
        resolution=resolution)
    generation.write_generation(out_dir / roentgen.folder, generated[roentgen.name],
                                [{"dicom_id": it.dicom_id, "finding": f, "prompt": p, "controls": [], "scales": [],
                                  "seed": s, "replicate": 0, "model": roentgen.name} for it, f, p, s in zip(items, findings, batch.prompts, seeds)])
write_json(out_dir / "methods.json", {"methods": registry.subset(generated).to_json(),
                                      "availability": availability, "resolution": resolution, "profile": profile})
pd.DataFrame({"images": {n: len(v) for n, v in generated.items()}}).T

# %% [markdown]
# ## Fig. 5 analogue: findings, the real image and three methods
# The report with the finding's word highlighted; the cohort's ground-truth box drawn on
# every image (real data: none).

# %%
truth = read_ground_truth(ground_truth_root) if ground_truth_root else None


def box(i: int):
    if truth is None:
        return None
    rows = truth[(truth.dicom_id == items[i].dicom_id) & (truth.label == findings[i])]
    if rows.empty:
        return None
    r = rows.iloc[0]
    with Image.open(items[i].image_path) as im:
        size = im.size
    return gaze.box_to_grid((r.xmin, r.ymin, r.xmax, r.ymax), size, (resolution, resolution))


def highlight(text: str, finding: str, width: int = 60) -> str:
    words = [w.upper() if w.lower().strip(".,;:") in FINDING_KEYWORDS.get(finding, ()) else w for w in text.split()]
    lines, line = [], ""
    for w in words:
        if len(line) + len(w) > width:
            lines.append(line)
            line = ""
        line += w + " "
    return "\n".join([*lines, line][:4])


canny_cn = registry.single(methods.SINGLE_CONTROLNET, CANNY)  # the paper's single-control baseline
shown = [m for m in (canny_cn, registry.get(methods.MULTI_CONTROLNET), registry.get(methods.RADGAZEGEN)) if m is not None]
cols5 = ["real", *(m.name for m in shown if m.name in generated)]
n5 = min(n_examples, len(items))
fig, axes = plt.subplots(n5, len(cols5) + 1, figsize=(2.3 * (len(cols5) + 1), 2.4 * n5), squeeze=False,
                         gridspec_kw={"width_ratios": [1.6] + [1] * len(cols5)})
for i in range(n5):
    axes[i][0].text(0, 0.5, f"{findings[i]}\n\n" + highlight(batch.prompts[i], findings[i]), fontsize=6, va="center", wrap=True)
    axes[i][0].axis("off")
    b = box(i)
    for j, c in enumerate(cols5):
        ax = axes[i][j + 1]
        ax.imshow(real[i] if c == "real" else generated[c][i], cmap="gray")
        if b is not None:
            ax.add_patch(plt.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, edgecolor="red", lw=1))
        ax.axis("off")
        if i == 0:
            ax.set_title(c, fontsize=8)
fig.suptitle(f"Generated findings, finding word in capitals ({profile} profile)", fontsize=9)
fig.tight_layout()

# %% [markdown]
# ## Fig. 6 analogue: one control, several controls, radiomics + HVA
# Each generated image beside the controls it was given.

# %%
panels6 = [(m.name, list(m.controls)) for m in shown if m.name in generated]
ncol = max(len(cs) for _, cs in panels6) + 1
fig, axes = plt.subplots(len(panels6), ncol, figsize=(1.9 * ncol, 2.1 * len(panels6)), squeeze=False)
for r, (name, cs) in enumerate(panels6):
    for j, c in enumerate(cs):
        axes[r][j].imshow(batch.conditioning[c][0, 0].numpy(), cmap="gray")
        axes[r][j].set_title(c, fontsize=7)
    axes[r][ncol - 1].imshow(generated[name][0], cmap="gray")
    axes[r][ncol - 1].set_title(name, fontsize=7, color="navy")
for ax in axes.flat:
    ax.axis("off")
fig.suptitle(f"Controls and the image they steer ({profile} profile)", fontsize=9)
fig.tight_layout()

# %% [markdown]
# ## Fig. 7 analogue: prompts of CheXpert-test findings and MIMIC-CXR-LT tail classes
# Text-only prompts naming one finding each, generated by SD-CXR and by RadGazeGen with
# the first test item's controls (the controls carry anatomy; the prompt, the finding).

# %%
prompts7 = [f"{k}." for k in ("Pleural Effusion", "Cardiomegaly", "Pneumothorax")] + [f"{k}." for k in LT_TAIL]
s7 = [seed] * len(prompts7)
sd7 = sampler.sample(registry[methods.SD], prompts7, seeds=s7, steps=sample_steps, guidance=guidance,
                     resolution=resolution)
first = {name: c[:1].repeat(len(prompts7), 1, 1, 1) for name, c in batch.conditioning.items()}  # item 0's controls
rg7 = sampler.sample(registry[methods.RADGAZEGEN], prompts7, first, seeds=s7, steps=sample_steps, guidance=guidance,
                     resolution=resolution)
fig, axes = plt.subplots(2, len(prompts7), figsize=(1.9 * len(prompts7), 4.2), squeeze=False)
for j, p in enumerate(prompts7):
    axes[0][j].imshow(sd7[j], cmap="gray")
    axes[1][j].imshow(rg7[j], cmap="gray")
    axes[0][j].set_title(("CheXpert: " if j < 3 else "LT tail: ") + p.rstrip("."), fontsize=6)
for ax in axes.flat:
    ax.axis("off")
axes[0][0].text(-4, resolution / 2, "SD-CXR", rotation=90, va="center", ha="right", fontsize=8)
axes[1][0].text(-4, resolution / 2, "RadGazeGen", rotation=90, va="center", ha="right", fontsize=8)
fig.suptitle(f"Generation from finding prompts ({profile} profile)", fontsize=9)
fig.tight_layout()

# %% [markdown]
# ## Summary
# Each method's images and manifest are under `07_generation/<method>/`, listed in
# `07_generation/methods.json` with what was not available (RoentGen without local
# weights). In `smoke` the models are tiny and barely trained: the images are noise and
# the figures show the layout, not the method.
