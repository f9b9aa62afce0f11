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
# **Overview.** HVA-CN learns the control that gaze gives: the selected hypothesis of the
# hypotheses chapter, a radiograph of the same disease seen through the radiologist's gaze
# mask (§3.2.2). It is "fed to the trained Rad-CN": while HVA-CN trains, the trained Rad-CN
# stays frozen and active, its residuals added to HVA-CN's before SD-CXR's U-Net, so HVA-CN
# learns what the radiomics controls do not already give. Each training item is one
# reported finding of one image: the target is the read radiograph, the prompt its report.
#
# The baselines of Tables 1 and 2 get the same gaze control alone: a single-control
# ControlNet on the hypothesis (no Rad-CN) and a T2I-Adapter.
#
# **Prerequisites.** Hypotheses, SD-CXR and Rad-CN.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR reports root
rad_cn_scale: float = 1.0  # conditioning scale of the frozen Rad-CN while HVA-CN trains
train_baselines: bool = True  # also train the gaze-only ControlNet and T2I-Adapter
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
proportion_empty_prompts: float = 0.0  # share of training prompts emptied, training classifier-free guidance's unconditional branch
cache_encodings: bool = False  # CPU speed: keep the items in memory and encode each image and prompt once (frozen VAE and text encoder)
scheduler: str = "unipc"  # sampler of the validation images
sample_steps: int = 10  # denoising steps
guidance: float = 3.0  # classifier-free guidance scale
n_validation: int = 3  # validation images (test findings)
seed: int = 0  # seed of training and sampling

# %%

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from radgazegen import figures, generation, training, training_data
from radgazegen.artifacts import Run
from radgazegen.book import profile_banner

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
    max_steps = -(-epochs * len(dataset) // (batch_size * grad_accum))
    print(f"{epochs} epochs of {len(dataset)} items = {max_steps} optimiser steps (batch {batch_size} x {grad_accum})")
config = training.TrainConfig(max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum, lr=lr,
                              mixed_precision=mixed_precision, gradient_checkpointing=gradient_checkpointing,
                              checkpoint_every=checkpoint_every, validate_every=validate_every, seed=seed,
                              proportion_empty_prompts=proportion_empty_prompts, cache_encodings=cache_encodings)
test = training_data.ControlDataset(
    training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test", gaze=True)[:n_validation],
    resolution, controls=controls)
batch = test(np.arange(len(test))) if len(test) else None
seeds = [seed + i for i in range(len(test))]
print(f"{len(dataset)} (image, finding) items from {len({it.dicom_id for it in items})} images; "
      f"frozen Rad-CN: {rad_cn['design']} ({', '.join(rad_cn['controls'])})")

# %% [markdown]
# ## Training
# HVA-CN with Rad-CN frozen and active; then the gaze-only baselines.

# %%
trained, logs = {}, {}
sampler = generation.Sampler(sd_dir, scheduler, device)  # SD-CXR loaded once (Rad-CN too), for every validation
frozen = [(d, c, rad_cn_scale) for d, c in zip(rad_cn["controlnets"], rad_cn["controls"])]


def validate(hva_cn, step: int) -> np.ndarray:
    """RadGazeGen with the HVA-CN being trained: test prompts and controls, fixed seeds."""
    pipe = sampler.pipeline([*rad_cn["controlnets"], hva_cn])  # the HVA-CN being trained, nothing reloaded
    return generation.generate(pipe, batch.prompts, [*(batch.conditioning[c] for c in rad_cn["controls"]), batch.conditioning["hva"]],
                               scales=[rad_cn_scale] * len(rad_cn["controls"]) + [1.0], steps=sample_steps,
                               guidance=guidance, seeds=seeds, resolution=resolution)


def fit(name: str, kind: str = "controlnet", with_rad_cn: bool = False) -> list:
    result = training.train_control(sd_dir, dataset, config, out_dir / name, training_data.GAZE_CONTROL, kind=kind,
                                    frozen_controlnets=frozen if with_rad_cn else (),
                                    validate=validate if with_rad_cn and batch is not None else None)
    logs[name], trained[name] = pd.DataFrame(result["metrics"]), str(result["final"])
    print(training.benchmark_line(name, result))
    return result["validation"]


hva_validation = fit("hva-cn", with_rad_cn=True)
if train_baselines:
    fit("controlnet-hva")
    fit("t2i-adapter-hva", kind="adapter")
run.write_registry("hva_cn", {"hva-cn": trained["hva-cn"], "models": trained, "rad_cn_scale": rad_cn_scale,
                              "resolution": resolution, "profile": profile})
fig, ax = plt.subplots(figsize=(6, 3))
for name, log in logs.items():
    ax.plot(log.step, log.loss.rolling(max(1, len(log) // 10), min_periods=1).mean(), lw=1.5, label=name)
ax.set(xlabel="optimiser step", ylabel="noise-prediction MSE (running mean)", title=f"Training loss ({profile} profile)")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %%
_ = figures.plot_validation_steps(hva_validation, f"RadGazeGen while HVA-CN trains: test prompts and controls ({profile} profile)")

# %% [markdown]
# ## Validation: Rad-CN alone and RadGazeGen (Rad-CN + HVA-CN)
# Test findings with their own controls; the same seed for both rows.

# %%
if batch is None:
    print("No test finding has a gaze control in this run.")
else:
    rad_controls = [batch.conditioning[c] for c in rad_cn["controls"]]
    rows = {
        "Rad-CN": generation.generate(sampler.pipeline(rad_cn["controlnets"]),
                                      batch.prompts, rad_controls, steps=sample_steps, guidance=guidance, seeds=seeds,
                                      resolution=resolution),
        "RadGazeGen": generation.generate(
            sampler.pipeline([*rad_cn["controlnets"], trained["hva-cn"]]),
            batch.prompts, [*rad_controls, batch.conditioning["hva"]], scales=[rad_cn_scale] * len(rad_controls) + [1.0],
            steps=sample_steps, guidance=guidance, seeds=seeds, resolution=resolution),
    }
    cols = ["real", "gaze control (hypothesis)", *rows]
    figures.image_grid([[training_data.to_uint8(batch.pixel_values[i:i + 1])[0], batch.conditioning["hva"][i, 0].numpy(),
                         *[imgs[i] for imgs in rows.values()]] for i in range(len(test))],
                       titles=[cols if i == 0 else [""] * len(cols) for i in range(len(test))],
                       cell=min(2.2, 7.0 / len(cols)), suptitle=f"HVA-CN validation ({profile} profile)");

# %% [markdown]
# ## Summary
# HVA-CN and the gaze baselines are saved with `save_pretrained` and listed in
# `06_hva_cn/models.json`. RadGazeGen is Rad-CN and HVA-CN together (Eq. 6); the next
# chapter generates with it and with every baseline.
