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
# **Overview.** Every model of RadGazeGen sits on SD-CXR, Stable Diffusion v1.5 whose U-Net
# is fine-tuned on MIMIC-CXR radiographs paired with their reports (§3.1, §4.1: 512x512,
# learning rate 1e-5, batch 4 with 4 accumulation steps, fp16, gradient checkpointing,
# max-grad-norm 1). The text encoder and the VAE stay frozen. The loss is the usual one of
# latent diffusion: the U-Net predicts the noise added to the image's latents at a random
# timestep, given the report's CLIP embedding.
#
# In `smoke` the parts are tiny random networks built from configs, trained for a few
# steps on CPU: the chapter checks the wiring, and its samples are noise. `teach` trains
# small parts from scratch on the cohort; `full` starts from the real SD v1.5 weights.
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
vae_steps: int = 0  # steps training the VAE first (parts built from scratch: teach), 0 to keep it as is
max_steps: int = 30  # optimiser steps (paper 50,000)
batch_size: int = 4  # images per micro-batch (paper 4)
grad_accum: int = 1  # micro-batches per optimiser step (paper 4)
lr: float = 1e-4  # AdamW learning rate (paper 1e-5)
mixed_precision: str = "no"  # "no", "fp16" (paper) or "bf16"
gradient_checkpointing: bool = False  # trade compute for memory (paper: on)
checkpoint_every: int = 10  # optimiser steps between checkpoints
validate_every: int = 15  # optimiser steps between validation images (0 for none)
proportion_empty_prompts: float = 0.0  # share of training prompts emptied, training classifier-free guidance's unconditional branch
cache_encodings: bool = False  # CPU speed: keep the items in memory and encode each image and prompt once (frozen VAE and text encoder)
scheduler: str = "unipc"  # sampler of the validation images
sample_steps: int = 10  # denoising steps of the validation images
guidance: float = 3.0  # classifier-free guidance scale of the validation images
n_validation: int = 4  # validation images (test-split prompts)
seed: int = 0  # seed of training and sampling

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from radgazegen import data, figures, generation, models, training, training_data
from radgazegen.artifacts import Run
from radgazegen.book import profile_banner

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
if train_images == "mimic-train":
    held_out = set(run.read_split().query("split == 'test'").dicom_id)
    items = [training_data.Item(r.dicom_id, r.image_path, r.report or "chest radiograph", {})
             for r in data.read_mimic_cxr(mimic_cxr_jpg_root, mimic_cxr_reports_root)
             if r.split == "train" and r.dicom_id not in held_out]
elif train_images == "gaze-train":
    items = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root)
else:
    raise ValueError(f"train_images: expected 'mimic-train' or 'gaze-train', got {train_images!r}")
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
config = training.TrainConfig(max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum, lr=lr,
                              mixed_precision=mixed_precision, gradient_checkpointing=gradient_checkpointing,
                              checkpoint_every=checkpoint_every, validate_every=validate_every, seed=seed,
                              proportion_empty_prompts=proportion_empty_prompts, cache_encodings=cache_encodings)
val_prompts = [it.prompt for it in training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root,
                                                           which="test")[:n_validation]]


def validate(unet, step: int) -> np.ndarray:
    """Validation images of the current U-Net (SD-CXR text-only), same prompts and seeds every time."""
    pipe = generation.parts_pipeline(parts, scheduler=scheduler, device=device)
    return generation.generate(pipe, val_prompts, steps=sample_steps, guidance=guidance,
                               seeds=[seed + i for i in range(len(val_prompts))], resolution=resolution)


result = training.train(parts, dataset, len(dataset), config, out_dir / "train", validate=validate)
print(training.benchmark_line("SD-CXR", result))
print(f"trained {result['steps']} steps" + (f", resumed from {Path(result['resumed_from']).name}" if result["resumed_from"] else ""))
parts.unet = type(parts.unet).from_pretrained(str(result["final"]))
sd_dir = models.save_sd_parts(parts, run.path("sd_cxr"))
print("SD-CXR saved (diffusers layout) in the run folder:", sd_dir.relative_to(run_dir))

# %%
log = pd.DataFrame(result["metrics"])
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.plot(log.step, log.loss, lw=1, alpha=0.5, label="per step")
ax.plot(log.step, log.loss.rolling(max(1, len(log) // 10), min_periods=1).mean(), lw=2, label="running mean")
ax.set(xlabel="optimiser step", ylabel="noise-prediction MSE", title=f"SD-CXR training loss ({profile} profile)")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %%
_ = figures.plot_validation_steps(result["validation"], f"SD-CXR during training: test prompts, fixed seeds ({profile} profile)")

# %% [markdown]
# ## Validation images
# Prompts from held-out test reports, sampled with the trained SD-CXR (text only).

# %%
test_items = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test")[:n_validation]
pipe = generation.text_pipeline(sd_dir, scheduler=scheduler, device=device)
prompts = [it.prompt for it in test_items]
images = generation.generate(pipe, prompts, steps=sample_steps, guidance=guidance,
                             seeds=[seed + i for i in range(len(prompts))], resolution=resolution)
generation.write_generation(out_dir / "validation", images, [{"prompt": p, "seed": seed + i, "model": "SD-CXR",
                                                              "controls": [], "scales": []} for i, p in enumerate(prompts)])
grid, titles, labels = [], [], []
for k in range(0, len(test_items), 4):  # at most four prompts across: a real row, then its SD-CXR row
    chunk = list(zip(test_items, images))[k:k + 4]
    grid += [[training_data.read_gray(it.image_path, resolution, "radiograph") for it, _ in chunk], [im for _, im in chunk]]
    titles += [[it.prompt[:40] + "..." for it, _ in chunk], [""] * len(chunk)]
    labels += ["real", "SD-CXR"]
if grid:
    figures.image_grid(grid, titles=titles, row_labels=labels, cell=1.7,
                       suptitle=f"Test prompts: real radiographs and SD-CXR samples ({profile} profile)");

# %% [markdown]
# ## Summary
# SD-CXR is saved in diffusers layout under `04_sd_cxr/model` (it loads in a stock
# `StableDiffusionPipeline`), with its checkpoints and loss log under `04_sd_cxr/train`.
# The ControlNets of the next chapters start from its U-Net.
