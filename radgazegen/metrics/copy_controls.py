"""The memorisation check's controls (chapter 15): the training images it compares against, a
copy of SD-CXR over-trained on a few training images (the regime where diffusion models
memorise), and the two controls beside it: a copier (the same training images with a little
noise, the check's positive control) and SD-CXR's VAE round trip (the closest a latent model's
image can come to a training image). ``controls_table`` runs ``memorisation.check_images`` and a
patient re-identification test on each.

Shapes: R px; images ``(N, R, R)`` uint8; copy rates and p-values in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from radgazegen.metrics import memorisation


def training_images(run, jpg_root: str, reports_root: str, size: int, max_images: int) -> tuple[list, np.ndarray]:
    """The training images the check compares against: the first ``max_images`` records of the
    train split that are not held out for testing (``data.read_mimic_cxr``), and their images at
    ``size`` px, ``(N, size, size)`` uint8. Used by chapter 15."""
    from radgazegen import data
    from radgazegen.models import training_data

    held_out = set(run.read_split().query("split == 'test'").dicom_id)
    train = [r for r in data.read_mimic_cxr(jpg_root, reports_root)
             if r.split == "train" and r.dicom_id not in held_out][:max_images]
    return train, np.stack([training_data.read_gray(r.image_path, size, "radiograph") for r in train])


@dataclass
class Overtrained:
    """The over-trained model and its prompts: the ``few`` training records it was trained on,
    their ``items``, the ``prompts`` (each record's prompt ``seeds_per_prompt`` times), their
    sampling ``seeds`` and the prompts' ``patients``; ``parts`` the over-trained SD parts and
    ``profile_model`` the profile's SD-CXR."""
    seeds_per_prompt: int
    few: list
    items: list
    prompts: list
    seeds: list
    patients: list
    parts: object
    profile_model: object


def overtrain(run, train: Sequence, n_images: int, steps: int, lr: float, seeds_per_prompt: int, seed: int,
              size: int) -> Overtrained:
    """Over-train a copy of SD-CXR (``run.use("sd_cxr")``) on ``n_images`` training records drawn
    at random (``numpy.random.default_rng(seed)``) for ``steps`` optimiser steps at learning rate
    ``lr``, the whole set in each batch (``models.training.train``; saved under the chapter's
    ``overtrained/``). Used by chapter 15."""
    import torch

    from radgazegen import models
    from radgazegen.models import training, training_data

    rng = np.random.default_rng(seed)
    few = [train[i] for i in sorted(rng.choice(len(train), min(n_images, len(train)), replace=False))]
    items = [training_data.Item(r.dicom_id, r.image_path, r.report or "chest radiograph", {}) for r in few]
    torch.manual_seed(seed)
    parts = models.sd_parts(str(run.use("sd_cxr")), resolution=size)
    config = training.TrainConfig(max_steps=steps, batch_size=len(items), lr=lr, seed=seed,
                                  checkpoint_every=steps, validate_every=0, cache_encodings=True)
    result = training.train(parts, training_data.ControlDataset(items, size, in_memory=True), len(items), config,
                            run.chapter_dir("15_memorisation") / "overtrained")
    prompts = [it.prompt for it in items for _ in range(seeds_per_prompt)]
    seeds = [seed + k for k in range(len(prompts))]
    patients = [r.subject_id for r in few for _ in range(seeds_per_prompt)]
    profile_model = models.sd_parts(str(run.use("sd_cxr")), resolution=size)
    parts.unet = type(parts.unet).from_pretrained(str(result["final"]))
    return Overtrained(seeds_per_prompt, few, items, prompts, seeds, patients, parts, profile_model)


def control_images(model: Overtrained, train: Sequence, train_images: np.ndarray, profile: str, steps: int,
                   sample_steps: int, guidance: float, copier_sigma: float, seed: int = 0) -> tuple[dict, str, str]:
    """The images the check's controls are run on, each ``(len(prompts), R, R)`` uint8: the
    profile's SD-CXR and the over-trained model (``steps``: its training steps, for the name) on
    the same prompts and seeds; the copier (each prompt's training image with Gaussian noise of
    ``copier_sigma`` grey levels, ``memorisation.noisy_copies``) and SD-CXR's VAE round trip of
    the same images. Returns ``(images, copier_name, round_trip_name)``. Used by chapter 15."""
    from radgazegen import generation, models

    drawn = {f"SD-CXR ({profile} profile)": model.profile_model,
             f"over-trained ({steps} steps on {len(model.items)} images)": model.parts}
    size = train_images.shape[-1]
    images = {k: generation.generate(generation.parts_pipeline(p), model.prompts, steps=sample_steps, guidance=guidance,
                                     seeds=model.seeds, resolution=size) for k, p in drawn.items()}
    own = train_images[[train.index(r) for r in model.few for _ in range(model.seeds_per_prompt)]]  # each prompt's training image
    copier = f"copier (training images + noise, sigma {copier_sigma:g})"
    images[copier] = memorisation.noisy_copies(own, copier_sigma, seed)
    round_trip = "SD-CXR's VAE round trip of the training images"
    images[round_trip] = models.vae_round_trip(model.profile_model, own)  # the closest a latent model's image can come
    return images, copier, round_trip


def controls_table(images: dict, spaces: dict, features, train: Sequence, patients: Sequence,
                   percentile: float = memorisation.COPY_PERCENTILE) -> tuple[pd.DataFrame, dict]:
    """Per model of ``images`` its near-copy check in each space (``memorisation.check_images``;
    copy rate and one-sided p-value) and its re-identification of the prompts' ``patients`` among
    the ``train`` records' patients in ``features`` (rate with its 95% interval as text, chance,
    p-value). Returns ``(table indexed by model, checks: model -> space -> MemorisationCheck)``.
    Used by chapter 15."""
    train_patients = [r.subject_id for r in train]
    rows, checks = [], {}
    for k, ims in images.items():
        check = checks[k] = memorisation.check_images(ims, spaces, percentile)
        reid = memorisation.reidentification(spaces["features"].training, train_patients, features(ims), patients)
        rows.append({"model": k, **{f"copy rate ({s})": c.copy_rate for s, c in check.items()},
                     "p-value (features)": check["features"].p_value, "p-value (pixels)": check["pixels"].p_value,
                     "re-identified": f"{reid.rate:.2f} [{reid.low:.2f}, {reid.high:.2f}]", "chance": reid.chance,
                     "re-id p-value": reid.p_value})
    return pd.DataFrame(rows).set_index("model"), checks


def control_values(table: pd.DataFrame, checks: dict, copier: str, round_trip: str, alpha: float, profile: str) -> dict:
    """The values chapter 15 glues about its controls (``mem_*``): the copier's copy rate and
    re-identification, the over-trained model's (the table's second row) copy rates, p-value and
    re-identification beside the profile's SD-CXR (its first row), the VAE round trip's copy
    rates, and the reading of the two controls, each flagged by the guard's own rule
    (``memorisation.guard_verdict`` at ``alpha``). Used by chapter 15."""
    over, base, copied, vae = table.iloc[1], table.iloc[0], table.loc[copier], table.loc[round_trip]
    flagged = lambda k: memorisation.guard_verdict({k: checks[k]}, alpha)["failed"]  # noqa: E731 (the guard's rule)
    return {"mem_copier_rate": float(copied["copy rate (features)"]), "mem_copier_reid": str(copied["re-identified"]),
            "mem_over_rate": float(over["copy rate (features)"]), "mem_base_rate": float(base["copy rate (features)"]),
            "mem_over_p": float(over["p-value (features)"]), "mem_over_reid": str(over["re-identified"]),
            "mem_over_pixels": float(over["copy rate (pixels)"]),
            "mem_vae_features": float(vae["copy rate (features)"]), "mem_vae_pixels": float(vae["copy rate (pixels)"]),
            "mem_reading": memorisation.positive_control_reading(
                copier_flagged=flagged(copier), overtrained_flagged=flagged(over.name), profile=profile)}
