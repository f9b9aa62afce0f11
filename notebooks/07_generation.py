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
# **Overview.** RadGazeGen {cite}`bhattacharya2024radgazegen` generates with SD-CXR steered
# by the frozen Rad-CN $\mathcal{F}^{\mathcal{R}}_{\hat\theta}$ and HVA-CN
# $\mathcal{F}^{\mathcal{V}}_{\hat\theta}$ together. For the input set
# $\mathcal{I}_{(\mathcal{R}_i, \mathcal{V})} := (\mathbf{x}_{\mathcal{R}_i},
# \mathbf{x}_{\mathcal{V}})$, the paper's Eq. 6 composes the fused model over the inference
# steps $t^*$,
#
# $$
# \hat{\mathcal{F}}(\mathcal{I}_{(\mathcal{R}_i, \mathcal{V})}) := \prod_{t^*}
# \mathcal{F}^{\mathcal{R}}_{\hat\theta} \oplus \mathcal{F}^{\mathcal{V}}_{\hat\theta}(\mathcal{I}_{(\mathcal{R}_i, \mathcal{V})}),
# $$ (eq-07-fusion)
#
# where $\oplus$ is a residual fusion: at every step the ControlNets' residuals, each scaled by
# its conditioning scale, are summed into SD-CXR's U-Net {cite}`zhang2023controlnet`, and the
# indicator $\mathbb{1}(\cdot)$ of the paper's rewritten Eq. 6 switches any control off:
#
# $$
# r_{t^*} = \sum_{i} \mathbb{1}(i = \mathcal{R}_i)\, s_{\mathcal{R}}\, \mathcal{F}^{\mathcal{R}_i}_{\hat\theta}(z_{t^*}, t^*, c, \mathbf{x}_{\mathcal{R}_i})
# + \mathbb{1}_{\mathcal{V}}\, s_{\mathcal{V}}\, \mathcal{F}^{\mathcal{V}}_{\hat\theta}(z_{t^*}, t^*, c, \mathbf{x}_{\mathcal{V}}),
# $$ (eq-07-indicator)
#
# with $s_{\mathcal{R}}$ = `rad_cn_scale` and $s_{\mathcal{V}}$ = `hva_cn_scale`. The
# denoiser at step $t^*$ is SD-CXR's U-Net with the residuals $r_{t^*}$ added to its skip
# connections, guided by {eq}`eq-04-guidance` of the SD-CXR chapter. Generation is the stock
# diffusers {cite}`vonplaten2022diffusers` `StableDiffusionControlNetPipeline` built from our
# saved models (its `MultiControlNetModel` is exactly this sum), so these images are what any
# diffusers user gets with the same seeds.
#
# Every method generates from the same test prompts, controls and seeds: SD (text only),
# one ControlNet per control, T2I-Adapter {cite}`mou2024t2iadapter` per control,
# Multi-ControlNet (the single-control ControlNets combined), RoentGen
# {cite}`chambon2022roentgen` (when its weights are given) and RadGazeGen. The images and a
# manifest per method go to `07_generation/<method>/`; the table chapters read them. Then
# the analogues of the paper's Figs. 5, 6 and 7.
#
# **Sampler.** The `full` profile uses the authors' released inference settings (their
# repository's generation script, `../shared/notes/method.md`): UniPC
# {cite}`zhao2023unipc`, their number of steps, negative prompt, seed and conditioning
# scales (their REFLACX setting); guidance is diffusers' default (the script sets none).
# `teach` and `smoke` sample with fewer steps and unit scales to fit their budgets, and say
# so in their parameter files; so that a reader sees what the authors' scales do at a
# profile's budget, RadGazeGen is also generated **at the authors' scales and negative
# prompt** ("RadGazeGen (authors' sampler)", with this profile's steps and the study's seeds:
# one draw per image, not their single seed 3407), a row of chapters 08 and 09 (`full`, whose
# RadGazeGen already uses them, skips it). Guidance is trained: prompts were emptied at
# `proportion_empty_prompts` during training (chapters 04-06), so the unconditional branch
# is not an untrained model.
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
sample_steps: int = 5  # denoising steps (authors' released inference: 50)
guidance: float = 3.0  # classifier-free guidance scale (the authors' script sets none: diffusers' 7.5)
negative_prompt: str = ""  # negative prompt, "" for none (authors: "monochrome, lowres, bad anatomy, worst quality, low quality")
rad_cn_scale: float = 1.0  # conditioning scale of Rad-CN in RadGazeGen (Eq. 6)
hva_cn_scale: float = 1.0  # conditioning scale of HVA-CN in RadGazeGen (Eq. 6)
n_generate: int = 6  # test (image, finding) items generated per method, -1 for all
n_examples: int = 3  # rows of the qualitative figures
show_real_images: bool = True  # figures may embed radiographs read from the data roots (full: false, credentialed data; see README)
seed: int = 0  # base seed: item i of replicate r uses seed + 1000 r + i for every method
n_replicates: int = 1  # generations of the test set per method with different seeds (mean +- std in the tables)
methods_generated: list = []  # names of the methods to generate (e.g. ["SD", "Rad-CN", "HVA-CN", "RadGazeGen"]), [] for all

# %%

import numpy as np
import pandas as pd
import torch
from IPython.display import display
from PIL import Image
from radgazegen.core.progress import tqdm

from radgazegen import generation
from radgazegen.controls import gaze
from radgazegen.generation import methods
from radgazegen.models import training_data
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner
from radgazegen.figures import glue_figure, image_grid, withheld
from radgazegen.core.io import atomic_path, write_json
from radgazegen.synthetic import read_ground_truth
from radgazegen.core.labels import FINDING_KEYWORDS, LT_TAIL
from radgazegen.core.vocabulary import CANNY, CONTROLS, LABELS

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
# The methods come from the trained models (`radgazegen.generation.methods.build`): SD, a ControlNet
# and a T2I-Adapter per control, Multi-ControlNet (all single-control ControlNets; Canny +
# lung mask; each radiomics map + HVA), and RadGazeGen with its ablations (the indicator of
# {eq}`eq-07-indicator`: Rad-CN, HVA-CN, each map + HVA-CN). One sampler holds SD-CXR, loaded once, and
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
                                     guidance=guidance, negative_prompt=method.negative_prompt or neg, resolution=resolution))
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
pd.DataFrame({"images": {n: len(v) for n, v in generated.items()}})

# %% [markdown]
# ### Exercise: Eq. 6's $\oplus$
# A ControlNet returns residuals for each of the U-Net's down blocks (a list of tensors) and one
# for its middle block. Write the fusion of {eq}`eq-07-fusion`: Rad-CN's and HVA-CN's
# residuals, each multiplied by its conditioning scale, summed block by block (a scale of 0
# switches a control off, as the indicator of {eq}`eq-07-indicator` does). The check compares
# your function with `radgazegen.models.objective.eq6_residuals` (diffusers' `MultiControlNetModel`:
# the one sum that trains HVA-CN over Rad-CN and samples RadGazeGen), on random residuals.

# %% tags=["exercise"]
def fuse_residuals(rad: tuple, hva: tuple, rad_scale: float, hva_scale: float) -> tuple:
    """(down residuals: list of ``(B, C_k, H_k, W_k)`` tensors, mid residual) of s_R F_R ⊕ s_V F_V;
    rad, hva: each ControlNet's (down list, mid)."""
    ### BEGIN SOLUTION
    (down_r, mid_r), (down_v, mid_v) = rad, hva
    down = [rad_scale * a + hva_scale * b for a, b in zip(down_r, down_v)]
    return down, rad_scale * mid_r + hva_scale * mid_v
    ### END SOLUTION


# %% tags=["exercise-check"]
from radgazegen.figures import exercises

exercises.check("fusion", fuse_residuals);

# %% [markdown]
# ## Fig. 5 analogue: findings, the real image and the paper's methods
# {numref}`fig-07-findings` shows the first test findings, the cohort's ground-truth box
# drawn on every image (real data: none), beside the images of those of the paper's Fig. 5
# methods (the Canny ControlNet, Multi-ControlNet, RadGazeGen) that this run generated; the
# table after it gives each item's report, with the finding's words in capitals.

# %%
truth = read_ground_truth(ground_truth_root) if ground_truth_root else None


def box(i: int):
    with Image.open(items[i].image_path) as im:
        return gaze.finding_box(truth, items[i].dicom_id, findings[i], im.size, (resolution, resolution))


def highlight(text: str, finding: str) -> str:
    """The report with the finding's words in capitals."""
    return " ".join(w.upper() if w.lower().strip(".,;:") in FINDING_KEYWORDS.get(finding, ()) else w for w in text.split())


canny_cn = registry.single(methods.SINGLE_CONTROLNET, CANNY)  # the paper's single-control baseline
shown = [m for m in (canny_cn, registry.get(methods.MULTI_CONTROLNET), registry.get(methods.RADGAZEGEN)) if m is not None]
cols5 = ["real", *(m.name for m in shown if m.name in generated)]
n5 = min(n_examples, len(items))
grid5 = [[withheld(real[i], show_real_images) if c == "real" else generated[c][i] for c in cols5] for i in range(n5)]
boxes5 = [None if box(i) is None else [box(i)] for i in range(n5) for _ in cols5]
glue_figure("fig-07-findings", image_grid(
    grid5, titles=[cols5 if i == 0 else [""] * len(cols5) for i in range(n5)], boxes=boxes5,
    row_labels=[f"{i + 1}. {findings[i]}" for i in range(n5)], cell=6.4 / len(cols5)) if n5 else None,
    empty="No test item in this run.")
pd.DataFrame({"finding": findings[:n5], "report (finding words in capitals)":
              [highlight(batch.prompts[i], findings[i]) for i in range(n5)]}, index=pd.RangeIndex(1, n5 + 1, name="item"))

# %% [markdown]
# ```{glue:figure} fig-07-findings
# :name: fig-07-findings
# :alt: One row per test finding, labelled with the finding: the real radiograph, then one image per method named above its column (of the Canny ControlNet, Multi-ControlNet and RadGazeGen, those this run generated), each with a red box where the finding really is.
#
# {glue:text}`n5` test findings ({glue:text}`profile` profile): the real image, then one
# column per method named above it, each generated from the same report, controls and seed.
# The paper's Fig. 5 shows the Canny ControlNet, Multi-ControlNet and RadGazeGen; a profile
# that does not generate a method has no column for it (see the chapter's parameter
# `methods_generated`). Red: the ground-truth box behind the gaze control. Look inside the red
# box: a method that follows the gaze should draw the finding there. In `smoke` the models are
# barely trained and the images are noise.
# ```

# %% [markdown]
# ## Fig. 6 analogue: one control, several controls, radiomics + HVA
# {numref}`fig-07-controls`: each generated image beside the controls it was given.

# %%
panels6 = [(m.name, list(m.controls)) for m in shown if m.name in generated]
ncol = max([len(cs) for _, cs in panels6], default=0) + 1
grid6 = [[batch.conditioning[c][0, 0].numpy() for c in cs] + [None] * (ncol - 1 - len(cs)) + [generated[name][0]]
         for name, cs in panels6]
titles6 = [[*(LABELS[c] for c in cs), *[""] * (ncol - 1 - len(cs)), "generated"] for _, cs in panels6]
glue_figure("fig-07-controls", image_grid(
    grid6, titles=titles6, row_labels=[name for name, _ in panels6], cell=6.4 / ncol,
    title_colors=[None if j < ncol - 1 else "navy" for _ in panels6 for j in range(ncol)]) if panels6 else None,
    empty="No method with controls in this run.")

# %% [markdown]
# ```{glue:figure} fig-07-controls
# :name: fig-07-controls
# :alt: One row per method: the control images it was given (Canny, Sobel, GL, lung mask, gaze hypothesis, as it applies) and, in the last column, the image it generated.
#
# The controls of the first test item and the image each method generated from them
# ({glue:text}`profile` profile): a single control (the Canny ControlNet), several
# (Multi-ControlNet) and the radiomics maps with the gaze (RadGazeGen). Look at which
# structures of the controls reappear in the last column.
# ```

# %% [markdown]
# ## Fig. 7 analogue: prompts of CheXpert-test findings and MIMIC-CXR-LT tail classes
# Text-only prompts naming one finding each, generated by SD-CXR and by RadGazeGen with
# the first test item's controls (the controls carry anatomy; the prompt, the finding)
# ({numref}`fig-07-prompts`).

# %%
chexpert7 = ("Pleural Effusion", "Cardiomegaly", "Pneumothorax")
prompts7 = [f"{k}." for k in chexpert7] + [f"{k}." for k in LT_TAIL]
s7 = [seed] * len(prompts7)
sd7 = sampler.sample(registry[methods.SD], prompts7, seeds=s7, steps=sample_steps, guidance=guidance,
                     resolution=resolution)
first = {name: c[:1].repeat(len(prompts7), 1, 1, 1) for name, c in batch.conditioning.items()}  # item 0's controls
rg7 = sampler.sample(registry[methods.RADGAZEGEN], prompts7, first, seeds=s7, steps=sample_steps, guidance=guidance,
                     resolution=resolution)
k = len(chexpert7)
glue_figure("fig-07-prompts", image_grid(
    [list(sd7[:k]), list(rg7[:k]), list(sd7[k:]), list(rg7[k:])],
    titles=[[p.rstrip(".") for p in prompts7[:k]], [""] * k, [p.rstrip(".") for p in prompts7[k:]], [""] * (len(prompts7) - k)],
    row_labels=["SD-CXR", "RadGazeGen", "SD-CXR", "RadGazeGen"], cell=1.6))

# %% [markdown]
# ```{glue:figure} fig-07-prompts
# :name: fig-07-prompts
# :alt: Four rows of generated radiographs: SD-CXR and RadGazeGen for three CheXpert findings named in the prompt, then SD-CXR and RadGazeGen for the three MIMIC-CXR-LT tail classes.
#
# One-finding prompts: three CheXpert-test findings (top pair of rows) and the MIMIC-CXR-LT
# tail classes (bottom pair), by SD-CXR (text only) and by RadGazeGen with the first test
# item's controls, same seed ({glue:text}`profile` profile). Look at what the controls add
# between the rows of a pair: the same anatomy whatever the finding.
# ```

# %%
glue("profile", profile)
glue("n5", n5)
glue("n_items", len(test))
glue("n_methods", len(generated))
glue("n_images", int(sum(len(v) for v in generated.values()) * n_replicates))
glue("n_replicates", n_replicates)
glue("sample_steps", sample_steps)
glue("scheduler", scheduler)
glue("guidance", guidance)
glue("rad_cn_scale", rad_cn_scale)
glue("hva_cn_scale", hva_cn_scale)
glue("roentgen", availability[methods.ROENTGEN])

# %% [markdown]
# ## What this run shows
# {glue:text}`n_methods` methods generated the same {glue:text}`n_items` test items
# ({glue:text}`n_replicates` replicate(s), {glue:text}`n_images` images in all) with
# {glue:text}`sample_steps` {glue:text}`scheduler` steps and guidance
# {glue:text}`guidance:g`; RadGazeGen fused Rad-CN and HVA-CN by {eq}`eq-07-indicator` with
# $s_{\mathcal{R}}$ = {glue:text}`rad_cn_scale:g` and $s_{\mathcal{V}}$ =
# {glue:text}`hva_cn_scale:g`. RoentGen: {glue:text}`roentgen`. Each method's images and
# manifest are under `07_generation/<method>/`, listed in `07_generation/methods.json`.
#
# ## What it cannot show
# In the {glue:text}`profile` profile the models are tiny and barely trained: the images are
# noise and the figures show the layout, not the method. The paper's Figs. 5-7 were judged by
# a radiologist; here only the numbers of the next chapters judge the images, and on the
# cohort, not on patients.
