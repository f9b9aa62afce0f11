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

from radgazegen import generation
from radgazegen.generation import evaluation_set, methods
from radgazegen.models import training_data
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner
from radgazegen.figures import generation_figures, glue_figure, image_grid
from radgazegen.core.io import write_json
from radgazegen.synthetic import read_ground_truth
from radgazegen.core.labels import LT_TAIL
from radgazegen.core.vocabulary import CANNY, CONTROLS

# %% [markdown]
# The chapter samples the models that chapters 04-06 trained, at their resolution.

# %%
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
findings = evaluation_set.test_findings(hyp, items)
items = items[:n_generate] if n_generate >= 0 else items
findings = findings[:len(items)]
test = training_data.ControlDataset(items, resolution, controls=controls)
batch = test(np.arange(len(test)))
seeds = [seed + i for i in range(len(test))]
sampling = dict(steps=sample_steps, guidance=guidance, resolution=resolution)  # every method's
print(f"{len(test)} test items x {n_replicates} replicate(s); resolution {resolution}; "
      f"{sample_steps} {scheduler} steps, guidance {guidance}")

# the real test images and their controls, for the table notebooks (08-13)
real = evaluation_set.write_real_and_controls(out_dir, items, findings, batch, controls)

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
generated, manifests = evaluation_set.generate_methods(sampler, registry, items, findings, batch, seeds, out_dir,
                                                 n_replicates=n_replicates, negative_prompt=neg, **sampling)
if roentgen_dir:
    roentgen = methods.roentgen()
    registry = methods.Registry([*registry.values(), roentgen])
    generated[roentgen.name] = evaluation_set.generate_roentgen(roentgen_dir, roentgen, items, findings, batch, seeds, out_dir,
                                                          scheduler=scheduler, device=device, negative_prompt=neg, **sampling)
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
canny_cn = registry.single(methods.SINGLE_CONTROLNET, CANNY)  # the paper's single-control baseline
shown = [m for m in (canny_cn, registry.get(methods.MULTI_CONTROLNET), registry.get(methods.RADGAZEGEN)) if m is not None]
n5 = min(n_examples, len(items))
boxes5 = generation_figures.finding_boxes(truth, items[:n5], findings[:n5], resolution)  # None on real data
glue_figure("fig-07-findings", generation_figures.findings_figure(
    real[:n5], generated, [m.name for m in shown], findings[:n5], boxes5, show_real_images), empty="No test item in this run.")
pd.DataFrame({"finding": findings[:n5], "report (finding words in capitals)":
              [generation_figures.highlight_finding(batch.prompts[i], findings[i]) for i in range(n5)]},
             index=pd.RangeIndex(1, n5 + 1, name="item"))

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
panels6 = [(m.name, list(m.controls)) for m in shown if m.name in generated]  # (method, its controls)
glue_figure("fig-07-controls", generation_figures.controls_figure(panels6, generated, batch),
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
