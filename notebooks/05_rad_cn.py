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
#     upstream: [01_data_preparation, 02_control_maps, 04_sd_cxr]
# ---

# %% [markdown]
# # Rad-CN: a ControlNet on radiomics maps and the lung mask, and the radiomics baselines
#
# **Overview.** Rad-CN steers SD-CXR with the radiomics filter maps $\mathcal{R}_i$ of §3.2.1
# (Canny, Sobel, GL) and the lung mask {cite}`bhattacharya2024radgazegen`. It is a ControlNet
# {cite}`zhang2023controlnet`: a trainable copy of SD-CXR's U-Net encoder whose outputs,
# through zero-initialised convolutions $\mathcal{Z}$, are added to the frozen U-Net's skip
# connections. For a frozen block $\mathcal{F}(\cdot; \Theta)$ with input $x$ and a control
# $\mathcal{R}_i$,
#
# $$
# y = \mathcal{F}(x; \Theta) + \mathcal{Z}\big(\mathcal{F}(x + \mathcal{Z}(\mathcal{R}_i; \Theta_{z1}); \Theta_c); \Theta_{z2}\big),
# $$ (eq-05-controlnet)
#
# where only the copy $\Theta_c$ and the zero convolutions $\Theta_{z1}, \Theta_{z2}$ are
# trained. Together they are $\mathcal{F}^{\mathcal{R}}_\theta$, trained with SD-CXR's
# noise-prediction loss, now conditioned on the report $c_{\mathcal{R}}$ and the maps (the
# paper's Eq. 4):
#
# $$
# \mathcal{L}_{R\text{-}CN}(\theta_{\mathcal{R}}) = \mathbb{E}_{z^{\mathcal{R}}_0, \epsilon, t, c_{\mathcal{R}}, \mathcal{R}_i}\left[ \left\lVert \epsilon - \epsilon_{\theta_{\mathcal{R}}}(z^{\mathcal{R}}_t, t, c_{\mathcal{R}}, \mathcal{R}_i) \right\rVert_2^2 \right].
# $$ (eq-05-loss)
#
# The paper trains individual ControlNets and combines them zero-shot (its "unified controls"
# are their combination); the authors' released inference sums one ControlNet per control
# (Canny, Sobel, GL, segmentation) with HVA-CN. That is the default here (`design: per-map`):
# Rad-CN is the four single-control ControlNets, so every subset of Eq. 6 (Tables 1 and 5)
# runs models in their training distribution. The variant `design: unified` (one ControlNet,
# the four maps as channels) is kept for comparison; its Eq. 6 subsets zero channels it
# always saw filled, which is outside its training, so read its per-map rows with that in
# mind.
#
# The same code trains the baselines of Tables 1 and 2 on the same controls: one
# single-control ControlNet per map (combined, they are the Multi-ControlNet baseline) and
# one T2I-Adapter {cite}`mou2024t2iadapter` per map, whose features enter the frozen U-Net's
# encoder instead of its skip connections.
#
# **Prerequisites.** The cached controls (control maps) and SD-CXR.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR reports root
design: str = "per-map"  # "per-map": one ControlNet per map (the paper, the authors' inference); "unified": maps as channels
controls: list = ["canny", "sobel", "gl", "segmentation"]  # radiomics controls of Rad-CN
train_baselines: bool = True  # also train a single-control ControlNet and a T2I-Adapter per control
resolution: int = 64  # training and sampling resolution, pixels (SD-CXR's)
max_steps: int = 8  # optimiser steps per model (used when epochs is 0)
epochs: int = 0  # passes over the training items (paper: 10); steps derived from it when > 0
batch_size: int = 4  # images per micro-batch
grad_accum: int = 1  # micro-batches per optimiser step
lr: float = 1e-4  # AdamW learning rate
mixed_precision: str = "no"  # "no", "fp16" or "bf16"
gradient_checkpointing: bool = False  # trade compute for memory
checkpoint_every: int = 4  # optimiser steps between checkpoints
validate_every: int = 4  # optimiser steps between Rad-CN validation images (0 for none)
proportion_empty_prompts: float = 0.1  # share of training prompts emptied, training classifier-free guidance's unconditional branch
cache_encodings: bool = False  # CPU speed: keep the items in memory and encode each image and prompt once (frozen VAE and text encoder)
concurrent_models: int = 1  # models trained at once on this machine (the first in this kernel, the others each in a process; 1: one after the other)
train_processes: int = 1  # processes of `accelerate launch` training each model (the GPUs of this machine; 1: in this kernel, with validation images)
scheduler: str = "unipc"  # sampler of the validation images
sample_steps: int = 10  # denoising steps
guidance: float = 3.0  # classifier-free guidance scale
n_validation: int = 3  # validation images (test-split prompts and controls)
gain_items: int = 8  # held-out test items on which each model's control gain is measured (0: none)
show_real_images: bool = True  # figures may embed radiographs read from the data roots (full: false, credentialed data; see README)
seed: int = 0  # seed of training and sampling

# %%
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from IPython.display import display

from radgazegen import figures, generation
from radgazegen.figures.training_figures import control_columns, item_rows_figure, plot_training_loss, real_radiographs
from radgazegen.generation.validation import rad_cn_validator, sample_rows
from radgazegen.models import control_gain, plan, training, training_data
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner

# %% [markdown]
# Rad-CN's design and controls are checked before anything runs
# (`radgazegen.models.plan.check_rad_cn`); every model of the chapter starts from SD-CXR.

# %%
plan.check_rad_cn(design, controls)
run = Run(run_dir)
out_dir = run.chapter_dir("05_rad_cn")
sd_dir = run.use("sd_cxr")
device = "cuda" if torch.cuda.is_available() else "cpu"
display(profile_banner(profile))

# %% [markdown]
# ## Training items: radiograph, report, controls

# %%
items = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root)
dataset = training_data.ControlDataset(items, resolution, controls=training_data.RADIOMICS_CONTROLS, in_memory=cache_encodings)
if epochs > 0:  # the paper's length, in epochs: steps = ceil(epochs x items / (batch x accumulation))
    max_steps = plan.steps_of_epochs(epochs, len(dataset), batch_size, grad_accum)
    print(f"{epochs} epochs of {len(dataset)} items = {max_steps} optimiser steps (batch {batch_size} x {grad_accum})")
config = training.TrainConfig.from_parameters(globals())  # max_steps, batch_size, lr, ... as declared above
print(f"{len(dataset)} training items; controls {', '.join(controls)}; design {design}")

# %% [markdown]
# The validation images use the first `n_validation` held-out test items: their prompts, their
# own controls, and one fixed seed each.

# %%
test = training_data.ControlDataset(
    training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test")[:n_validation],
    resolution, controls=training_data.RADIOMICS_CONTROLS)
batch = test(np.arange(len(test)))
seeds = [seed + i for i in range(len(test))]
sampling = dict(steps=sample_steps, guidance=guidance, seeds=seeds, resolution=resolution)  # every validation image's

# %% [markdown]
# ## Training
# Each model resumes from its last checkpoint if its folder holds one.

# %%
sampler = generation.Sampler(sd_dir, scheduler, device)  # SD-CXR loaded once, for every validation
# train_processes > 1: each model is trained by `accelerate launch` on that many processes (radgazegen.models.launch)
train_control = plan.trainer(train_processes, concurrent_models)
# the models, in order: Rad-CN (one unified ControlNet, or one per map), then the baselines
models = plan.rad_cn_plan(design, controls, train_baselines, dataset, config)
results = plan.train_plan(models, sd_dir, out_dir, train_control, concurrent_models,  # Rad-CN's with validation images
                          validator=lambda m: rad_cn_validator(sampler, batch, m["control"], **sampling))
logs, trained, specs, validation = plan.trained_models(models, results)
registry = plan.rad_cn_registry(design, controls, trained, resolution, profile)
rad_cn = registry["rad-cn"]
run.write_registry("rad_cn", registry)
pd.DataFrame({"model": list(trained), "folder in the run": [str(Path(f).relative_to(run_dir)) for f in trained.values()]})

# %%
figures.glue_figure("fig-05-loss", plot_training_loss(logs, legend_below=True))
first = "rad-cn" if design == "unified" else f"controlnet-{controls[0]}"
figures.glue_figure("fig-05-validation-steps", figures.plot_validation_steps(validation.get(first, []), ""),
                    empty="No validation images in this run (validate_every = 0).")
glue("first_model", first)

# %% [markdown]
# ```{glue:figure} fig-05-loss
# :name: fig-05-loss
# :alt: A line chart of the running-mean training loss against the optimiser step, one line per trained model: Rad-CN's ControlNets and the baselines.
#
# Training loss {eq}`eq-05-loss` of every model this chapter trains ({glue:text}`profile`
# profile): Rad-CN's ControlNets and the single-control ControlNet and T2I-Adapter
# baselines. Look at whether every line falls: each model starts from the same SD-CXR.
# ```
#
# ```{glue:figure} fig-05-validation-steps
# :name: fig-05-validation-steps
# :alt: Rows of small generated images, one row per validation step of the first Rad-CN ControlNet, all from the same test prompts, controls and seeds.
#
# {glue:text}`first_model` during training: test prompts and their controls, fixed seeds, one
# row per validation step. The ControlNet starts as SD-CXR (its zero convolutions add
# nothing); look at whether later rows follow the controls more.
# ```

# %% [markdown]
# ## Validation images
# Test prompts with the test images' own controls ({numref}`fig-05-controls`): Rad-CN and,
# for comparison, the Multi-ControlNet baseline (single-control ControlNets combined)
# ({numref}`fig-05-samples`).

# %%
rows = {"Rad-CN": (rad_cn["controlnets"], rad_cn["controls"], None)}
if train_baselines:
    rows["Multi-ControlNet"] = ([trained[f"controlnet-{c}"] for c in controls], controls, None)
rows = sample_rows(sampler, batch, rows, **sampling)  # label -> (N, R, R) uint8, same prompts and seeds
real_ims = real_radiographs(batch, show_real_images)
figures.glue_figure("fig-05-controls", item_rows_figure(
    {"real": real_ims, **control_columns(batch, controls)}), empty="No test item in this run.")
figures.glue_figure("fig-05-samples", item_rows_figure({"real": real_ims, **rows}), empty="No test item in this run.")

# %% [markdown]
# ```{glue:figure} fig-05-controls
# :name: fig-05-controls
# :alt: One row per test item: the real radiograph and its radiomics and lung-mask controls.
#
# The controls of {glue:text}`n_validation` held-out test items, as Rad-CN receives them
# (design {glue:text}`design`). Look at what each map keeps of the radiograph: edges,
# gradients, texture, the lungs' outline.
# ```
#
# ```{glue:figure} fig-05-samples
# :name: fig-05-samples
# :alt: One row per test item: the real radiograph, the image Rad-CN generated from its report and controls, and the image of the Multi-ControlNet baseline.
#
# The same test items generated by Rad-CN and by the Multi-ControlNet baseline, same seeds,
# {glue:text}`sample_steps` steps ({glue:text}`profile` profile). Look at whether a sample
# keeps the real image's outline (the controls') more than the other row does.
# ```

# %% [markdown]
# ## Does each model use its control?
# A ControlNet starts as SD-CXR's copy with zero convolutions at its outputs: until they grow
# it adds nothing, and its training loss is the frozen SD-CXR's, so a loss curve that ends low
# does not show that the control is used. On {glue:text}`gain_items` held-out test items, each
# model's loss {eq}`eq-05-loss` is computed twice with the same noised latents, timesteps and
# prompts: with its control, and with its residuals switched off (scale 0: the frozen SD-CXR).
# The *control gain* is the share of the frozen model's loss the control removes
# (`radgazegen.models.control_gain`), with a 95% bootstrap interval over the items.

# %%
gain_test = training_data.ControlDataset(
    training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test")[:gain_items],
    resolution, controls=training_data.RADIOMICS_CONTROLS)
gains = control_gain.gain_table(sd_dir, list(specs.values()), gain_test, seed=seed) if len(gain_test) else pd.DataFrame()
display(gains.round(3))
glue("gain_items", len(gain_test))
glue("gains_above_zero", f"{int((gains.low > 0).sum()) if len(gains) else 0} of {len(gains)}")

# %% [markdown]
# The control's gain excludes 0 for {glue:text}`gains_above_zero` models ({glue:text}`profile`
# profile). A gain near 0 means the model has not yet learned to use its control at this
# profile's budget: its samples are SD-CXR's, whatever the control says.

# %%
glue("profile", profile)
glue("design", design)
glue("n_items", len(dataset))
glue("n_models", len(trained))
glue("n_controls", len(controls))
glue("n_steps", int(max_steps))
glue("n_validation", len(test))
glue("sample_steps", sample_steps)
glue("final_losses", ", ".join(f"{n} {log.loss.iloc[-1]:.4f}" for n, log in logs.items()))

# %% [markdown]
# ## What this run shows
# On {glue:text}`n_items` training items, this run trained {glue:text}`n_models` models for
# {glue:text}`n_steps` optimiser steps each: Rad-CN (design {glue:text}`design`, over
# {glue:text}`n_controls` radiomics controls) and the baselines. Their last losses were:
# {glue:text}`final_losses`; the control gain excludes 0 for {glue:text}`gains_above_zero`
# of them. They are saved with `save_pretrained` (they load with
# `ControlNetModel.from_pretrained` / `T2IAdapter.from_pretrained`) and listed in
# `05_rad_cn/models.json`, which the HVA-CN, generation and evaluation chapters read.
#
# ## What it cannot show
# In the {glue:text}`profile` profile the models train for a few steps on tiny parts, so the
# figures show that conditioning reaches the sampler, not that Rad-CN follows its controls;
# Table 2 measures that. One training seed per model: the spread between training runs is
# not measured here.
