"""Table 2's CLIP-score column (chapter 09): torchmetrics' ``CLIPScore`` with a local CLIP model
when one is given, otherwise the study's image-report contrastive model (``standins.clip``),
trained here on the run's training radiographs and reports and saved in chapter 09's folder.
Scores are CLIP score's scale, ``100 * max(cos, 0)``, one per image.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

#: Chapter 09's folder of the run, where the study's image-report model is saved (``study_clip``).
CHAPTER = "09_table2_controllability"


@dataclass
class ClipColumn:
    """The CLIP column's scorer. ``name``: the metric's name shown in Table 2 ("CLIP score
    (<local CLIP folder>)" or the stand-in's ``STUDY_CLIP_NAME``); ``score(images)``: ``(N, R,
    R)`` uint8 images, aligned with the test items' prompts -> ``(N,)`` scores in [0, 100];
    ``losses``: the stand-in's mean contrastive loss per epoch (None with a local CLIP);
    ``own_vs_other``: the stand-in's mean score of the real test images with their own reports
    and with another item's (the next item's, rolled by one): NaN, NaN with a local CLIP."""
    name: str
    score: Callable[[np.ndarray], np.ndarray]
    losses: list[float] | None = None
    own_vs_other: tuple[float, float] = (float("nan"), float("nan"))


def table2_clip(run, prompts: list[str], real: np.ndarray, clip_dir: str, mimic_cxr_jpg_root: str,
                mimic_cxr_reports_root: str, epochs: int, seed: int) -> ClipColumn:
    """Table 2's CLIP column for the test items' ``prompts`` and real images ``real`` (``(N, R,
    R)`` uint8): a local CLIP model from ``clip_dir`` when given; otherwise the study's
    image-report model trained for ``epochs`` (seed ``seed``, at ``R`` px) on the run's training
    items read from the MIMIC-CXR(-JPG) roots, and saved as ``<run>/09_table2_controllability/
    study_clip``. The run's tokenizer is used either way (``run.use("tokenizer")``). Used by
    chapter 09."""
    from radgazegen import metrics, standins
    from radgazegen.models import clip_tokenizer, training_data

    tok = clip_tokenizer(run.use("tokenizer"))
    if clip_dir:
        return ClipColumn(f"CLIP score ({Path(clip_dir).name})",
                          lambda images: metrics.clip_score_local(images, prompts, clip_dir, per_image=True))
    size = real.shape[1]
    train_items = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="train")
    train_images = np.stack([training_data.read_gray(it.image_path, size, "radiograph") for it in train_items])
    model, losses = standins.train_study_clip(train_images, standins.token_ids(tok, [it.prompt for it in train_items]),
                                              epochs=epochs, size=size, seed=seed)
    model.save(run.chapter_dir(CHAPTER) / "study_clip")
    ids = standins.token_ids(tok, prompts)
    score = lambda images: model.score(images, ids)  # (N,) scores
    shuffled = np.roll(np.arange(len(prompts)), 1)
    own_vs_other = (float(score(real).mean()), float(model.score(real, ids[shuffled]).mean()))
    return ClipColumn(model.name, score, losses, own_vs_other)
