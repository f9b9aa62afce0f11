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
#     upstream: [01_data_preparation, 02_control_maps]
# ---

# %% [markdown]
# # SD-CXR: Stable Diffusion fine-tuned on radiographs and reports
#
# **Overview.** Every model of RadGazeGen {cite}`bhattacharya2024radgazegen` sits on SD-CXR,
# Stable Diffusion v1.5, a latent diffusion model {cite}`rombach2022ldm`, whose U-Net is
# fine-tuned on MIMIC-CXR {cite}`johnson2019mimiccxr` radiographs paired with their reports
# (§3.1, §4.1). The text encoder and the VAE stay frozen. The paper gives the forward process
# of a diffusion model {cite}`ho2020ddpm` (its Eq. 1); on the VAE latents $z_0 =
# \mathcal{E}(x)$ of a radiograph $x$ it is, in closed form,
#
# $$
# z_t = \sqrt{\bar\alpha_t}\, z_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon,\qquad
# \epsilon \sim \mathcal{N}(0, I),\qquad \bar\alpha_t = \prod_{s=1}^{t} (1 - \beta_s),
# $$ (eq-04-forward)
#
# and the U-Net $\epsilon_\theta$ learns to predict the noise from $z_t$, the timestep $t$
# and the report's text states $c$, by the latent diffusion loss
#
# $$
# \mathcal{L}_{\mathrm{SD}}(\theta) = \mathbb{E}_{z_0, c, \epsilon, t}\left[ \left\lVert \epsilon - \epsilon_\theta(z_t, t, c) \right\rVert_2^2 \right].
# $$ (eq-04-loss)
#
# A share `proportion_empty_prompts` of the prompts is replaced by the empty prompt
# $\varnothing$, so that classifier-free guidance {cite}`ho2022cfg` has a trained
# unconditional branch; sampling (UniPC {cite}`zhao2023unipc`) then uses
#
# $$
# \tilde\epsilon_\theta(z_t, t, c) = \epsilon_\theta(z_t, t, \varnothing) + w \left( \epsilon_\theta(z_t, t, c) - \epsilon_\theta(z_t, t, \varnothing) \right)
# $$ (eq-04-guidance)
#
# with the guidance scale $w$ = `guidance`. The optimiser is AdamW
# {cite}`loshchilov2019adamw`; the paper's settings (steps, learning rate, batch,
# accumulation, precision) are in the `full` profile's parameter file.
#
# In `smoke` the parts are tiny random networks built from configs, trained for a few steps
# on CPU: the chapter checks the wiring, and its samples are noise. `teach` trains small
# parts from scratch on the cohort; `full` starts from the real SD v1.5 weights.
#
# **Prerequisites.** The split (data preparation) and the cached controls (control maps).

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR reports root
sd_source: str = "tiny"  # "tiny", "small", or a Stable Diffusion v1.5 hub id or local directory
train_images: str = "gaze-train"  # "mimic-train": MIMIC-CXR's train split minus the held-out test images (the paper); "gaze-train": the split's training images
resolution: int = 64  # training and sampling resolution, pixels
vae_steps: int = 5  # steps training the VAE first (parts built from scratch: teach), 0 to keep it as is
max_steps: int = 30  # optimiser steps (paper 50,000)
batch_size: int = 4  # images per micro-batch (paper 4)
grad_accum: int = 1  # micro-batches per optimiser step (paper 4)
lr: float = 1e-4  # AdamW learning rate (paper 1e-5)
mixed_precision: str = "no"  # "no", "fp16" (paper) or "bf16"
gradient_checkpointing: bool = False  # trade compute for memory (paper: on)
checkpoint_every: int = 10  # optimiser steps between checkpoints
validate_every: int = 15  # optimiser steps between validation images (0 for none)
proportion_empty_prompts: float = 0.1  # share of training prompts emptied, training classifier-free guidance's unconditional branch
cache_encodings: bool = False  # CPU speed: keep the items in memory and encode each image and prompt once (frozen VAE and text encoder)
scheduler: str = "unipc"  # sampler of the validation images
sample_steps: int = 10  # denoising steps of the validation images
guidance: float = 3.0  # classifier-free guidance scale of the validation images
n_validation: int = 4  # validation images (test-split prompts)
show_real_images: bool = True  # figures may embed radiographs read from the data roots (full: false, credentialed data; see README)
seed: int = 0  # seed of training and sampling

# %%
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from IPython.display import display

from radgazegen import figures, generation, models
from radgazegen.figures.training_figures import plot_training_loss, running_mean, sd_cxr_samples_figure
from radgazegen.generation.validation import sd_cxr_validator
from radgazegen.models import plan, training, training_data
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner

run = Run(run_dir)
out_dir = run.chapter_dir("04_sd_cxr")
device = "cuda" if torch.cuda.is_available() else "cpu"
display(profile_banner(profile))

# %% [markdown]
# ## Training pairs: radiograph and report
# The paper fine-tunes SD on MIMIC-CXR radiographs and their reports. With
# `train_images: mimic-train` (the `full` profile) the pairs are every image of MIMIC-CXR's
# official train split except the study's held-out test images, which SD-CXR never sees;
# with `gaze-train` (`smoke`, `teach`: the cohort is small) they are the split's training
# images. The prompt is the report's FINDINGS and IMPRESSION.

# %%
items = plan.sd_cxr_items(run, train_images, mimic_cxr_jpg_root, mimic_cxr_reports_root)
print(f"{len(items)} training pairs ({train_images})")
dataset = training_data.ControlDataset(items, resolution, in_memory=cache_encodings)
pd.DataFrame([{"dicom_id": it.dicom_id, "prompt": it.prompt[:120]} for it in items[:5]])

# %% [markdown]
# ## The parts and the training run
# Parts built from scratch (`teach`) first get a VAE trained on the radiographs
# (`vae_steps`), so that latents decode back to radiographs; the text encoder stays a
# frozen random CLIP encoder, whose embeddings still tell the reports' words apart.
# Training resumes from the last checkpoint in the output folder if one is there (a run
# killed midway picks up where it stopped and ends with the same weights).

# %%
torch.manual_seed(seed)
parts = models.sd_parts(sd_source, tokenizer_dir=run.path("tokenizer"), resolution=resolution)
if vae_steps > 0:
    vae_losses = training.train_vae(parts.vae, dataset, len(dataset), vae_steps, seed=seed)
    print(f"VAE trained {vae_steps} steps: loss {vae_losses[0]:.4f} -> {np.mean(vae_losses[-10:]):.4f}; "
          f"latent scaling factor {parts.vae.config.scaling_factor:.3f}")
n_params = sum(p.numel() for p in parts.unet.parameters())
print(f"parts: {parts.source}; U-Net {n_params / 1e6:.2f} M parameters; VAE factor {parts.vae_scale_factor}")

# %% [markdown]
# Every `validate_every` optimiser steps, the parts being trained sample the same held-out
# test prompts with the same seeds (`radgazegen.generation.validation.sd_cxr_validator`).

# %%
config = training.TrainConfig.from_parameters(globals())  # max_steps, batch_size, lr, ... as declared above
val_prompts = [it.prompt for it in training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root,
                                                           which="test")[:n_validation]]
validate = sd_cxr_validator(parts, val_prompts, scheduler=scheduler, device=device, seed=seed,
                            steps=sample_steps, guidance=guidance, resolution=resolution)
result = training.train(parts, dataset, len(dataset), config, out_dir / "train", validate=validate)
plan.log_benchmark("SD-CXR", result)  # benchmark figures: the run's log, not the chapter
print(f"trained {result['steps']} steps" + (f", resumed from {Path(result['resumed_from']).name}" if result["resumed_from"] else ""))
parts.unet = type(parts.unet).from_pretrained(str(result["final"]))
sd_dir = models.save_sd_parts(parts, run.path("sd_cxr"))
print("SD-CXR saved (diffusers layout) in the run folder:", sd_dir.relative_to(run_dir))

# %%
log = pd.DataFrame(result["metrics"])
figures.glue_figure("fig-04-loss", plot_training_loss({"SD-CXR": log}, per_step=True))
figures.glue_figure("fig-04-validation-steps", figures.plot_validation_steps(result["validation"], ""),
                    empty="No validation images in this run (validate_every = 0).")

# %% [markdown]
# ```{glue:figure} fig-04-loss
# :name: fig-04-loss
# :alt: A line chart of the training loss against the optimiser step, per step and as a running mean.
#
# SD-CXR's training loss {eq}`eq-04-loss` over {glue:text}`n_steps` optimiser steps
# ({glue:text}`profile` profile). Look at the running mean: it should fall from the first
# steps' value as the U-Net learns the radiographs' noise.
# ```
#
# ```{glue:figure} fig-04-validation-steps
# :name: fig-04-validation-steps
# :alt: Rows of small generated images, one row per validation step, all from the same test prompts and seeds.
#
# SD-CXR during training: the same held-out test prompts and seeds, sampled every
# `validate_every` steps (one row per validation step). Look at how the samples change from
# row to row: the same seeds make any change the model's.
# ```

# %% [markdown]
# ## Validation images
# Prompts from held-out test reports, sampled with the trained SD-CXR (text only) and
# {eq}`eq-04-guidance` ({numref}`fig-04-samples`).

# %%
test_items = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test")[:n_validation]
pipe = generation.text_pipeline(sd_dir, scheduler=scheduler, device=device)
prompts = [it.prompt for it in test_items]
images = generation.generate(pipe, prompts, steps=sample_steps, guidance=guidance,
                             seeds=[seed + i for i in range(len(prompts))], resolution=resolution)
generation.write_generation(out_dir / "validation", images, [{"prompt": p, "seed": seed + i, "model": "SD-CXR",
                                                              "controls": [], "scales": []} for i, p in enumerate(prompts)])
# a real row, then its SD-CXR row, at most four prompts across
figures.glue_figure("fig-04-samples", sd_cxr_samples_figure(test_items, images, resolution, show_real_images),
                    empty="No test prompt in this run.")

# %% [markdown]
# ```{glue:figure} fig-04-samples
# :name: fig-04-samples
# :alt: Pairs of rows: real held-out radiographs titled with the start of their report, and below each the image SD-CXR generated from that report.
#
# Held-out test reports: the real radiograph (top) and SD-CXR's sample from its report
# (bottom), {glue:text}`sample_steps` {glue:text}`scheduler` steps at guidance
# {glue:text}`guidance:g`, {glue:text}`resolution` px ({glue:text}`profile` profile). Look at
# whether the samples have a chest's layout at all; in `smoke` they are noise by design.
# ```

# %%
running = running_mean(log.loss)
glue("profile", profile)
glue("n_pairs", len(items))
glue("train_images", train_images)
glue("n_steps", int(result["steps"]))
glue("unet_mparams", n_params / 1e6)
glue("loss_first", float(running.iloc[0]) if len(running) else float("nan"))
glue("loss_last", float(running.iloc[-1]) if len(running) else float("nan"))
glue("n_samples", len(images))
glue("sample_steps", sample_steps)
glue("scheduler", scheduler)
glue("guidance", guidance)
glue("resolution", resolution)
glue("p_empty", proportion_empty_prompts)

# %% [markdown]
# ## What this run shows
# SD-CXR was fine-tuned on {glue:text}`n_pairs` radiograph-report pairs
# (`train_images` = {glue:text}`train_images`) at {glue:text}`resolution` px for {glue:text}`n_steps`
# optimiser steps of {eq}`eq-04-loss`, prompts emptied with probability
# {glue:text}`p_empty:g`; its U-Net has {glue:text}`unet_mparams:.2f` M parameters, and the
# running mean of the loss went from {glue:text}`loss_first:.4f` to
# {glue:text}`loss_last:.4f`. It is saved in diffusers {cite}`vonplaten2022diffusers` layout
# under `04_sd_cxr/model` (it loads in a stock `StableDiffusionPipeline`), with its
# checkpoints and loss log under `04_sd_cxr/train`, and generated {glue:text}`n_samples`
# validation images. The ControlNets of the next chapters start from its U-Net.
#
# ## What it cannot show
# In the {glue:text}`profile` profile the parts are tiny and the training short, so a falling
# loss shows that gradients flow, not that the model has learnt radiographs, and its samples
# are not meant to look like them. Whether SD-CXR follows a report's findings is tested only
# through the evaluation chapters, and only `full`, from the real SD v1.5 weights and
# MIMIC-CXR, is the paper's model.
