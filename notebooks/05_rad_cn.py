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
import functools
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from radgazegen import figures, generation
from radgazegen.models import control_gain, launch, training, training_data
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner
from radgazegen.core.progress import log_line  # benchmark figures: the run's log, not the chapter
from radgazegen.core.vocabulary import LABELS

if design not in ("unified", "per-map"):
    raise ValueError(f"design: expected 'unified' or 'per-map', got {design!r}")
unknown = [c for c in controls if c not in training_data.RADIOMICS_CONTROLS]
if unknown:
    raise ValueError(f"controls: unknown {unknown}; expected some of {training_data.RADIOMICS_CONTROLS}")
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
    max_steps = -(-epochs * len(dataset) // (batch_size * grad_accum))
    print(f"{epochs} epochs of {len(dataset)} items = {max_steps} optimiser steps (batch {batch_size} x {grad_accum})")
config = training.TrainConfig.from_parameters(globals())  # max_steps, batch_size, lr, ... as declared above
test = training_data.ControlDataset(
    training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test")[:n_validation],
    resolution, controls=training_data.RADIOMICS_CONTROLS)
batch = test(np.arange(len(test)))
seeds = [seed + i for i in range(len(test))]
print(f"{len(dataset)} training items; controls {', '.join(controls)}; design {design}")

# %% [markdown]
# ## Training
# Each model resumes from its last checkpoint if its folder holds one.

# %%
trained, logs, validation, specs = {}, {}, {}, []
sampler = generation.Sampler(sd_dir, scheduler, device)  # SD-CXR loaded once, for every validation


def validator(control: str):
    """Validation images of a ControlNet being trained on ``control``: test prompts, controls, fixed seeds."""
    def validate(controlnet, step: int) -> np.ndarray:
        pipe = sampler.pipeline([controlnet])  # the model being trained on the SD-CXR already loaded
        return generation.generate(pipe, batch.prompts, [batch.conditioning[control]], steps=sample_steps,
                                   guidance=guidance, seeds=seeds, resolution=resolution)
    return validate


# train_processes > 1: each model is trained by `accelerate launch` on that many processes (radgazegen.models.launch)
train_control = (training.train_control if train_processes == 1 else
                 functools.partial(launch.train_control, num_processes=train_processes))
if design == "unified" and sorted(controls) != sorted(training_data.RADIOMICS_CONTROLS):
    raise ValueError("design 'unified' stacks all four radiomics controls; use 'per-map' for a subset")
if train_processes > 1 and concurrent_models > 1:
    raise ValueError("train_processes and concurrent_models: one of them may exceed 1, not both")
# the models, in order: Rad-CN (one unified ControlNet, or one per map), then the baselines
plan = ([{"name": "rad-cn", "control": "unified", "kind": "controlnet", "channels": 4, "rad_cn": True}] if design == "unified"
        else [{"name": f"controlnet-{c}", "control": c, "kind": "controlnet", "channels": 3, "rad_cn": True} for c in controls])
for c in controls if train_baselines else []:
    plan += [{"name": f"{k}-{c}", "control": c, "kind": k.replace("t2i-", ""), "channels": 3, "rad_cn": False}
             for k in ("controlnet", "t2i-adapter") if not (k == "controlnet" and design == "per-map")]


def train_here(m: dict) -> dict:
    """One model in this kernel; Rad-CN's ControlNets with validation images."""
    validate = validator(m["control"]) if m["rad_cn"] else None
    return train_control(sd_dir, dataset, config, out_dir / m["name"], m["control"], kind=m["kind"],
                         conditioning_channels=m["channels"], validate=validate)


job_of = lambda m: launch.write_job(sd_dir, dataset, config, out_dir / m["name"], m["control"], m["kind"], m["channels"])
for m, result in zip(plan, launch.train_all(plan, train_here, job_of, concurrent_models)):
    logs[m["name"]], validation[m["name"]] = pd.DataFrame(result["metrics"]), result["validation"]
    trained[m["name"]] = str(result["final"])
    specs.append({"name": m["name"], "folder": trained[m["name"]], "kind": m["kind"], "control": m["control"]})
    log_line(training.benchmark_line(m["name"], result))
rad_cn = {"design": design, "controls": ["unified"] if design == "unified" else list(controls),
          "controlnets": [trained["rad-cn"]] if design == "unified" else [trained[f"controlnet-{c}"] for c in controls]}
registry = {"rad-cn": rad_cn, "models": trained, "resolution": resolution, "profile": profile}
run.write_registry("rad_cn", registry)
pd.DataFrame({"model": list(trained), "folder in the run": [str(Path(f).relative_to(run_dir)) for f in trained.values()]})

# %%
fig, ax = plt.subplots(figsize=(figures.FIG_WIDTH_IN, 3.0))
for name, log in logs.items():
    ax.plot(log.step, log.loss.rolling(max(1, len(log) // 10), min_periods=1).mean(), lw=1.5, label=name)
ax.set(xlabel="optimiser step", ylabel="noise-prediction MSE\n(running mean)")
ax.legend(frameon=False, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
fig.tight_layout()
figures.glue_figure("fig-05-loss", fig)
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
rows = {"Rad-CN": generation.generate(sampler.pipeline(rad_cn["controlnets"]),
                                      batch.prompts, [batch.conditioning[c] for c in rad_cn["controls"]],
                                      steps=sample_steps, guidance=guidance, seeds=seeds, resolution=resolution)}
if train_baselines:
    nets = [trained[f"controlnet-{c}"] for c in controls]
    rows["Multi-ControlNet"] = generation.generate(
        sampler.pipeline(nets), batch.prompts,
        [batch.conditioning[c] for c in controls], steps=sample_steps, guidance=guidance, seeds=seeds, resolution=resolution)
real_ims = figures.withheld([training_data.to_uint8(batch.pixel_values[i:i + 1])[0] for i in range(len(test))], show_real_images)
control_ims = [[batch.conditioning[c][i, 0].numpy() for c in controls] for i in range(len(test))]
sample_ims = [[imgs[i] for imgs in rows.values()] for i in range(len(test))]
for key, heads, grid in (("fig-05-controls", ["real", *(LABELS.get(c, c) for c in controls)],
                          [[r, *c] for r, c in zip(real_ims, control_ims)]),
                         ("fig-05-samples", ["real", *rows], [[r, *g] for r, g in zip(real_ims, sample_ims)])):
    figures.glue_figure(key, figures.image_grid(
        grid, titles=[heads if i == 0 else [""] * len(heads) for i in range(len(grid))],
        cell=min(2.0, 6.6 / len(heads))) if grid else None, empty="No test item in this run.")

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
gains = control_gain.gain_table(sd_dir, specs, gain_test, seed=seed) if len(gain_test) else pd.DataFrame()
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
