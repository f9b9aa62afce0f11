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
#     upstream: [01_data_preparation, 02_control_maps, 03_hypotheses, 04_sd_cxr, 05_rad_cn]
# ---

# %% [markdown]
# # HVA-CN: a ControlNet on the gaze-guided hypotheses, trained over the frozen Rad-CN
#
# **Overview.** HVA-CN, $\mathcal{F}^{\mathcal{V}}_\theta$, learns the control that gaze
# gives: the selected hypothesis $\beta^k$ of the hypotheses chapter, a radiograph of the
# same disease seen through the radiologist's gaze mask
# ({cite:t}`bhattacharya2024radgazegen`, §3.2.2). It is a ControlNet
# {cite}`zhang2023controlnet` "fed to the trained Rad-CN": while HVA-CN trains, the trained
# Rad-CN $\mathcal{F}^{\mathcal{R}}_{\hat\theta}$ stays frozen and active, its residuals,
# scaled by $s_{\mathcal{R}}$ = `rad_cn_scale`, added to HVA-CN's before SD-CXR's U-Net, so
# HVA-CN learns what the radiomics controls do not already give:
#
# $$
# \epsilon_{\theta_{\mathcal{V}}}(z_t, t, c_{\mathcal{V}}, \mathcal{V}) =
# \epsilon_{\mathrm{SD}}\Big(z_t, t, c_{\mathcal{V}};\;
# s_{\mathcal{R}} \sum_i \mathcal{F}^{\mathcal{R}}_{\hat\theta}(\mathcal{R}_i) + \mathcal{F}^{\mathcal{V}}_{\theta}(\mathcal{V})\Big),
# $$ (eq-06-residuals)
#
# where $\epsilon_{\mathrm{SD}}(\cdot\,; r)$ is SD-CXR's frozen U-Net with the residuals $r$
# added to its skip connections. Only $\theta_{\mathcal{V}}$ is trained, by the paper's Eq. 5:
#
# $$
# \mathcal{L}_{HVA\text{-}CN}(\theta_{\mathcal{V}}) = \mathbb{E}_{z^{\mathcal{V}}_0, \epsilon, t, c_{\mathcal{V}}, \mathcal{V}}\left[ \left\lVert \epsilon - \epsilon_{\theta_{\mathcal{V}}}(z^{\mathcal{V}}_t, t, c_{\mathcal{V}}, \mathcal{V}) \right\rVert_2^2 \right].
# $$ (eq-06-loss)
#
# Each training item is one reported finding of one image: the target is the read
# radiograph, the prompt its report, $\mathcal{V}$ the finding's hypothesis.
#
# The baselines of Tables 1 and 2 get the same gaze control alone: a single-control
# ControlNet on the hypothesis (no Rad-CN) and a T2I-Adapter {cite}`mou2024t2iadapter`.
#
# **HVA-CN as Eq. 5 writes it** (`train_eq5`). Eq. 5 writes HVA-CN's loss as
# $\epsilon_{\theta_{\mathcal{V}}}(z_t, t, c_{\mathcal{V}}, \mathcal{V})$: the gaze control and the
# text, no Rad-CN. Training it over Rad-CN (above) is this study's reading of "fed to the trained
# Rad-CN", and in the cohort it makes the gaze a redundant third cue: Rad-CN already receives
# the target image's own radiomics maps, in which the lesion is visible, and most reports name
# the side and zone. So chapter 13's primary test uses a second HVA-CN, trained
#
# - without Rad-CN (Eq. 5's arguments only);
# - on prompts without place words: the report's sentences that name the item's finding, sides
#   and zones removed (`radgazegen.core.labels.location_free_prompt`), so the gaze is the only cue to
#   where the finding is;
# - on the dilated gaze mask $\hat{\mathcal{V}}^k$ rather than the hypothesis image $\beta^k$
#   (another patient's radiograph seen through the mask): the control the authors' released
#   script feeds HVA-CN. **Deviation** from the paper's text, which feeds the hypothesis.
#
# And, for chapter 13's ceiling, an **oracle** (`train_oracle`, cohort only): the same
# ControlNet trained on the finding's ground-truth box as its control. It is no method (its
# control comes from the label of the image); it shows what a control that carries the place
# perfectly achieves at this training budget.
#
# **Prerequisites.** Hypotheses, SD-CXR and Rad-CN.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR reports root
rad_cn_scale: float = 1.0  # conditioning scale of the frozen Rad-CN while HVA-CN trains
train_baselines: bool = True  # also train the gaze-only ControlNet and T2I-Adapter
train_eq5: bool = True  # also train HVA-CN as Eq. 5 writes it: gaze mask, location-free prompts, no Rad-CN (chapter 13's primary test)
train_oracle: bool = True  # also train the oracle: the same ControlNet on the finding's ground-truth box (synthetic cohort only)
eq5_steps: int = 0  # optimiser steps of the Eq. 5 HVA-CN (0: max_steps)
oracle_steps: int = 0  # optimiser steps of the oracle (0: as eq5_steps)
ground_truth_root: str = "runs/smoke/cohort"  # synthetic cohort root with ground_truth/ (the oracle's boxes), "" for real data
keep_checkpoints: int = 2  # checkpoints kept per model (more: chapter 13's hit rate against training steps)
resolution: int = 64  # training and sampling resolution, pixels (SD-CXR's)
max_steps: int = 8  # optimiser steps per model (used when epochs is 0)
epochs: int = 0  # passes over the training items (paper: 10); steps derived from it when > 0
batch_size: int = 4  # images per micro-batch
grad_accum: int = 1  # micro-batches per optimiser step
lr: float = 1e-4  # AdamW learning rate
mixed_precision: str = "no"  # "no", "fp16" or "bf16"
gradient_checkpointing: bool = False  # trade compute for memory
checkpoint_every: int = 4  # optimiser steps between checkpoints
validate_every: int = 4  # optimiser steps between HVA-CN validation images (0 for none)
proportion_empty_prompts: float = 0.1  # share of training prompts emptied, training classifier-free guidance's unconditional branch
cache_encodings: bool = False  # CPU speed: keep the items in memory and encode each image and prompt once (frozen VAE and text encoder)
concurrent_models: int = 1  # models trained at once on this machine (the first in this kernel, the others each in a process; 1: one after the other)
train_processes: int = 1  # processes of `accelerate launch` training each model (the GPUs of this machine; 1: in this kernel, with validation images)
scheduler: str = "unipc"  # sampler of the validation images
sample_steps: int = 10  # denoising steps
guidance: float = 3.0  # classifier-free guidance scale
n_validation: int = 3  # validation images (test findings)
gain_items: int = 8  # held-out test findings on which each model's control gain is measured (0: none)
show_real_images: bool = True  # figures may embed radiographs read from the data roots (full: false, credentialed data; see README)
seed: int = 0  # seed of training and sampling

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from radgazegen import figures, generation
from radgazegen.figures.training_figures import control_maps, item_rows_figure, plot_training_loss, real_radiographs
from radgazegen.generation.validation import radgazegen_validator, sample_rows
from radgazegen.models import control_gain, plan, training, training_data
from radgazegen.generation.methods import HVA_CN_EQ5, ORACLE
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner

# %% [markdown]
# HVA-CN starts from SD-CXR (chapter 04) and trains over Rad-CN as chapter 05 registered it.

# %%
run = Run(run_dir)
out_dir = run.chapter_dir("06_hva_cn")
sd_dir = run.use("sd_cxr")
rad = run.read_registry("rad_cn")
rad_cn = rad["rad-cn"]
device = "cuda" if torch.cuda.is_available() else "cpu"
display(profile_banner(profile))

# %% [markdown]
# ## Training items: one per reported finding with gaze

# %%
controls = [*training_data.RADIOMICS_CONTROLS, training_data.GAZE_CONTROL]
items = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, gaze=True)
dataset = training_data.ControlDataset(items, resolution, controls=controls, in_memory=cache_encodings)
if epochs > 0:  # the paper's length, in epochs: steps = ceil(epochs x items / (batch x accumulation))
    max_steps = plan.steps_of_epochs(epochs, len(dataset), batch_size, grad_accum)
    print(f"{epochs} epochs of {len(dataset)} items = {max_steps} optimiser steps (batch {batch_size} x {grad_accum})")
config = training.TrainConfig.from_parameters(globals())  # max_steps, batch_size, lr, ... as declared above
print(f"{len(dataset)} (image, finding) items from {len({it.dicom_id for it in items})} images; "
      f"frozen Rad-CN: {rad_cn['design']} ({', '.join(rad_cn['controls'])})")

# %% [markdown]
# The validation images use the first `n_validation` held-out test findings with gaze: their
# prompts, their own controls, and one fixed seed each.

# %%
test = training_data.ControlDataset(
    training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test", gaze=True)[:n_validation],
    resolution, controls=controls)
batch = test(np.arange(len(test))) if len(test) else None
seeds = [seed + i for i in range(len(test))]
sampling = dict(steps=sample_steps, guidance=guidance, seeds=seeds, resolution=resolution)  # every validation image's

# %% [markdown]
# ## Training
# HVA-CN with Rad-CN frozen and active; then the gaze-only baselines.

# %%
sampler = generation.Sampler(sd_dir, scheduler, device)  # SD-CXR loaded once (Rad-CN too), for every validation
frozen = [(d, c, rad_cn_scale) for d, c in zip(rad_cn["controlnets"], rad_cn["controls"])]
# RadGazeGen with the HVA-CN being trained: test prompts and controls, fixed seeds
validate = radgazegen_validator(sampler, batch, rad_cn, rad_cn_scale, **sampling) if batch is not None else None
# train_processes > 1: each model is trained by `accelerate launch` on that many processes (radgazegen.models.launch)
train_control = plan.trainer(train_processes, concurrent_models)
eq5_items = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, gaze=True, gaze_control="mask",
                                    prompt="finding") if train_eq5 or train_oracle else []  # Eq. 5's: gaze mask, location-free prompts

# %% [markdown]
# The models, in order: HVA-CN over the frozen Rad-CN, the gaze-only baselines, Eq. 5's HVA-CN
# and the oracle (`radgazegen.models.plan.hva_cn_plan`); only HVA-CN is validated.

# %%
models = plan.hva_cn_plan(
    dataset, config, frozen, train_baselines=train_baselines, eq5_steps=eq5_steps, oracle_steps=oracle_steps,
    eq5=(HVA_CN_EQ5, plan.gaze_mask_dataset(eq5_items, resolution, cache_encodings)) if train_eq5 else None,
    oracle=(ORACLE, plan.oracle_dataset(run, ground_truth_root, eq5_items, resolution, cache_encodings))
    if train_oracle and ground_truth_root else None)
results = plan.train_plan(models, sd_dir, out_dir, train_control, concurrent_models, validator=lambda m: validate)
logs, trained, specs, validation = plan.trained_models(models, results)

# %%
# Eq. 5's HVA-CN and the oracle: chapter 13's primary test, not methods of the tables
registry = plan.hva_cn_registry(trained, logs, out_dir, {HVA_CN_EQ5: "mask", ORACLE: "box"},
                                rad_cn_scale=rad_cn_scale, resolution=resolution, profile=profile)
trained = registry["models"]
if train_eq5:
    print(f"{HVA_CN_EQ5}: {len(eq5_items)} items, gaze mask and location-free prompts, e.g. {eq5_items[0].prompt!r}")
run.write_registry("hva_cn", registry)
figures.glue_figure("fig-06-loss", plot_training_loss(logs))
figures.glue_figure("fig-06-validation-steps", figures.plot_validation_steps(validation["hva-cn"], ""),
                    empty="No validation images in this run (validate_every = 0 or no test finding with gaze).")

# %% [markdown]
# ```{glue:figure} fig-06-loss
# :name: fig-06-loss
# :alt: A line chart of the running-mean training loss against the optimiser step for HVA-CN and the two gaze-only baselines.
#
# Training loss {eq}`eq-06-loss` of HVA-CN (over the frozen Rad-CN) and of the gaze-only
# ControlNet and T2I-Adapter ({glue:text}`profile` profile). Look at HVA-CN's line against the
# gaze-only ControlNet's: with Rad-CN's residuals already in {eq}`eq-06-residuals`, it starts
# from a model that sees the radiomics controls.
# ```
#
# ```{glue:figure} fig-06-validation-steps
# :name: fig-06-validation-steps
# :alt: Rows of small generated images, one row per validation step of HVA-CN, all from the same test prompts, controls and seeds.
#
# RadGazeGen (Rad-CN and the HVA-CN being trained) on the test prompts and controls, fixed
# seeds, one row per validation step. Look at how far later rows move from the first, which
# is Rad-CN alone (HVA-CN's zero convolutions add nothing at the start).
# ```

# %% [markdown]
# ## Validation: Rad-CN alone and RadGazeGen (Rad-CN + HVA-CN)
# Test findings with their own controls; the same seed for both methods
# ({numref}`fig-06-samples`).

# %%
if batch is None:
    print("No test finding has a gaze control in this run.")
    figures.glue_figure("fig-06-samples", None, empty="No test finding has a gaze control in this run.")
else:
    rows = sample_rows(sampler, batch, {  # label -> (N, R, R) uint8, same prompts and seeds
        "Rad-CN": (rad_cn["controlnets"], rad_cn["controls"], None),
        "RadGazeGen": ([*rad_cn["controlnets"], trained["hva-cn"]], [*rad_cn["controls"], "hva"],
                       [rad_cn_scale] * len(rad_cn["controls"]) + [1.0])}, **sampling)
    figures.glue_figure("fig-06-samples", item_rows_figure(
        {"real": real_radiographs(batch, show_real_images), "gaze control (hypothesis)": control_maps(batch, "hva"), **rows}))

# %% [markdown]
# ```{glue:figure} fig-06-samples
# :name: fig-06-samples
# :alt: One row per test finding: the real radiograph, its gaze-guided hypothesis, the image Rad-CN alone generated and the image RadGazeGen generated with the same seed.
#
# {glue:text}`n_validation` test findings: the real image, its gaze control, and the samples
# of Rad-CN alone and of RadGazeGen with the same seed ({glue:text}`profile` profile). Look at
# what changes between the last two columns: only HVA-CN's residuals differ.
# ```

# %% [markdown]
# ## Does each model use its gaze control?
# As in chapter 05: on {glue:text}`gain_items` held-out test findings, each model's loss with
# its gaze control and with its residuals switched off (scale 0), the same noised latents,
# timesteps and prompts; HVA-CN's two terms keep the frozen Rad-CN on, so its gain is what the
# gaze adds over Rad-CN. Eq. 5's HVA-CN is scored on its own items (gaze mask,
# location-free prompts). The gain is the share of the loss the control removes, with a 95%
# bootstrap interval over the findings.

# %%
def held_out(**kw):
    found = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test", gaze=True, **kw)
    return training_data.ControlDataset(found[:gain_items], resolution, controls=controls if not kw else [training_data.GAZE_CONTROL])


gain_sets = [(held_out(), [specs[n] for n in ("hva-cn", "controlnet-hva", "t2i-adapter-hva") if n in specs])]
if train_eq5:
    gain_sets.append((held_out(gaze_control="mask", prompt="finding"), [specs[HVA_CN_EQ5]]))
gains = pd.concat([control_gain.gain_table(sd_dir, models, data, seed=seed) for data, models in gain_sets if len(data)]
                  or [pd.DataFrame()], ignore_index=True)
display(gains.round(3))
glue("gain_items", len(gain_sets[0][0]))
glue("gains_above_zero", f"{int((gains.low > 0).sum()) if len(gains) else 0} of {len(gains)}")

# %% [markdown]
# The gaze control's gain excludes 0 for {glue:text}`gains_above_zero` models
# ({glue:text}`profile` profile). A gain near 0: the model has not learned to use the gaze at
# this profile's budget, and its samples are those of the models beneath it.

# %%
glue("profile", profile)
glue("n_items", len(dataset))
glue("n_images", len({it.dicom_id for it in items}))
glue("n_models", len(trained))
glue("n_steps", int(max_steps))
glue("rad_cn_design", rad_cn["design"])
glue("rad_cn_scale", rad_cn_scale)
glue("n_validation", len(test))
glue("final_losses", ", ".join(f"{n} {log.loss.iloc[-1]:.4f}" for n, log in logs.items()))

# %% [markdown]
# ## What this run shows
# HVA-CN trained for {glue:text}`n_steps` optimiser steps on {glue:text}`n_items`
# (image, finding) items from {glue:text}`n_images` images, over the frozen Rad-CN (design
# {glue:text}`rad_cn_design`, scale $s_{\mathcal{R}}$ = {glue:text}`rad_cn_scale:g`); with the
# gaze-only baselines, {glue:text}`n_models` models, whose last losses were:
# {glue:text}`final_losses`; the gaze control's gain excludes 0 for
# {glue:text}`gains_above_zero` of them. They are saved with `save_pretrained` and listed in
# `06_hva_cn/models.json`. RadGazeGen is Rad-CN and HVA-CN together (Eq. 6); the next
# chapter generates with it and with every baseline.
#
# ## What it cannot show
# In the {glue:text}`profile` profile the models are tiny and barely trained, so the samples
# show the wiring of {eq}`eq-06-residuals`, not whether HVA-CN puts a finding where the gaze
# was; chapter 13 tests that on the cohort's ground truth. Whether training HVA-CN over Rad-CN
# beats training it alone is only visible in the tables, as the baselines' rows.
