"""Gaze-guided hypotheses (§3.2.2, Fig. 2.C.1, Fig. 4): the control HVA-CN trains on.

For a finding k that a radiologist reported while looking at the image:

1. threshold its HVA map V^k at lambda: the binary gaze mask V̂^k (``gaze.threshold``;
   the authors threshold at 120 of 255 and dilate with a 100x100 kernel, 3 iterations);
2. the bag B^k: training radiographs labelled with k (authors: up to 5 candidates);
3. the hypotheses H^k_j = B^k_j AND V̂^k: each bag image kept only inside the gaze mask;
4. the score D(f_B, f_H): cosine similarity between the features of B^k_j and of H^k_j.
   The selected hypothesis beta^k is the one with the highest score: the bag image whose
   appearance survives the gaze mask best.

Features (``FeatureExtractor``): TorchXRayVision's DenseNet-121 ``features2`` (1024-d) when
its weights are in a local folder (``XRVFeatures``), as the authors' code does; otherwise a
small convolutional encoder the study trains on the cohort's training labels
(``StudyFeatures`` of ``standins.StudyEncoder``, 128-d). Every output names the extractor it used.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from radgazegen.controls.gaze import REFERENCE_WIDTH_PX, threshold
from radgazegen.standins import XRV_WEIGHTS, StudyEncoder, batched, load_xrv_densenet, xrv_input


class FeatureExtractor(Protocol):
    name: str

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """``(N, H, W)`` uint8 radiographs -> ``(N, D)`` float32 features."""


def gaze_mask(v: np.ndarray, lam: float, dilate_px: float, iterations: int = 3) -> np.ndarray:
    """The gaze mask V̂^k of a per-finding HVA map V^k (step 1).

    v: ``(S, S)`` float map in [0, 1] on the control grid of an image; lam: threshold lambda
    in [0, 1]; dilate_px: side of the square dilation kernel in pixels of a real radiograph
    (``gaze.REFERENCE_WIDTH_PX`` wide; authors 100), rescaled with the image as the HVA sigma
    is, i.e. ``dilate_px * S / REFERENCE_WIDTH_PX`` on the grid; iterations of the dilation
    (authors: 3). Returns ``(S, S)`` uint8, 0 / 255.
    """
    kernel = int(round(dilate_px * v.shape[1] / REFERENCE_WIDTH_PX))
    return threshold(v, lam, dilate_px=kernel, iterations=iterations)


def draw_bags(finding: str, labels: dict[str, str], exclude: str, n_bag: int,
              rng: np.random.Generator) -> tuple[list[str], list[str]] | None:
    """The bag B^k and the control check's mixed bag, drawn from ``rng`` in that order (step 2).

    labels: training image id -> its single MIMIC-CXR-LT class (the bag candidates; test
    images excluded by the caller); exclude: the image being read (never in its own bag).
    Returns (bag: up to ``n_bag`` images labelled ``finding``, sorted; mixed: the bag's first
    image among ``n_bag - 1`` images of other classes), or None when fewer than 2 candidates
    or ``n_bag - 1`` others exist.
    """
    candidates = sorted(d for d, lab in labels.items() if lab == finding and d != exclude)
    others = [d for d, lab in labels.items() if lab != finding and d != exclude]
    if len(candidates) < 2 or len(others) < n_bag - 1:
        return None
    bag = sorted(rng.choice(candidates, min(n_bag, len(candidates)), replace=False))
    mixed = [bag[0], *rng.choice(others, n_bag - 1, replace=False)]
    return bag, mixed


def apply_mask(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Hypotheses H_j = B_j AND V̂: ``(N, H, W)`` uint8 images kept where ``mask`` > 0, else 0.

    images: ``(N, H, W)`` or ``(H, W)`` uint8; mask: ``(H, W)`` binary (0 / 255 or bool) on the
    same grid.
    """
    images, mask = np.asarray(images), np.asarray(mask)
    if images.shape[-2:] != mask.shape:
        raise ValueError(f"mask: shape {mask.shape} does not match the images' {images.shape[-2:]}")
    m = np.where(mask > 0, 255, 0).astype(np.uint8)
    if images.ndim == 2:
        return cv2.bitwise_and(images, m)
    return np.stack([cv2.bitwise_and(im, m) for im in images])


def cosine_scores(f_bag: np.ndarray, f_hyp: np.ndarray) -> np.ndarray:
    """D(f_B, f_H): cosine similarity of each bag image's features with its hypothesis's, ``(N,)`` in [-1, 1]."""
    a = torch.as_tensor(np.asarray(f_bag, np.float32))
    b = torch.as_tensor(np.asarray(f_hyp, np.float32))
    return F.cosine_similarity(a, b, dim=1, eps=1e-8).numpy()


@dataclass
class Selection:
    """The hypotheses of one finding and the one selected.

    finding: MIMIC-CXR-LT class k; bag: dicom ids of B^k; scores: D(f_B, f_H) per bag image;
    best: index of the selected hypothesis beta^k in ``bag``; extractor: the features' name.
    """
    finding: str
    bag: list[str]
    scores: np.ndarray
    best: int
    extractor: str
    hypotheses: np.ndarray = field(repr=False, default=None)

    @property
    def selected(self) -> str:
        return self.bag[self.best]


def select_hypothesis(finding: str, mask: np.ndarray, bag_ids: Sequence[str], bag_images: np.ndarray,
                      extractor: FeatureExtractor) -> Selection:
    """Make the hypotheses of ``bag_images`` under the gaze ``mask`` and select the best.

    bag_images: ``(N, H, W)`` uint8 on the mask's grid; an empty bag or an empty mask is a
    ``ValueError`` naming the finding.
    """
    if len(bag_ids) == 0:
        raise ValueError(f"{finding}: the bag B^k is empty (no training image has this label)")
    if not np.asarray(mask).any():
        raise ValueError(f"{finding}: the gaze mask is empty; no hypothesis can be made")
    hyps = apply_mask(bag_images, mask)
    feats = extractor(np.concatenate([bag_images, hyps]))
    scores = cosine_scores(feats[:len(bag_ids)], feats[len(bag_ids):])
    return Selection(finding, list(bag_ids), scores, int(np.argmax(scores)), extractor.name, hyps)


def released_selection(v: np.ndarray, mask: np.ndarray, bag_images: np.ndarray,
                       extractor: FeatureExtractor) -> tuple[int, np.ndarray, np.ndarray]:
    """The authors' released hypothesis script's choice, for comparison with the paper's (an ablation).

    The released code (``../shared/notes/method.md``) compares the features of the gaze
    heat-map image (``v`` as 0..255 grey) with those of each masked bag image by MSE, keeps the
    candidate with the LARGEST MSE (the least similar one, where the paper selects the best
    match), and returns the dilated gaze mask itself as HVA-CN's control, whatever it picked.
    v: ``(S, S)`` float in [0, 1]; mask: ``(S, S)`` 0 / 255; bag_images: ``(N, S, S)`` uint8.
    Returns (index of the picked candidate, MSE per candidate ``(N,)``, the control: ``mask``).
    """
    heat = np.clip(np.asarray(v) * 255.0, 0, 255).astype(np.uint8)
    feats = extractor(np.concatenate([heat[None], apply_mask(bag_images, mask)]))
    mse = ((feats[1:] - feats[:1]) ** 2).mean(axis=1)
    return int(np.argmax(mse)), mse, np.asarray(mask)


def hypothesis_for_report(report: str, hypotheses) -> tuple[str, str] | None:
    """The gaze control a generator gets for a report it is prompted with, chosen from the report alone.

    report: the prompt (Table 3: the report written for a CheXpert test image).
    hypotheses: training hypotheses (columns finding, control_path), e.g. chapter 03's
    ``hypotheses.csv`` restricted to the training split.
    Returns (finding, control_path) of the first finding the report names (its words in
    ``labels.FINDING_KEYWORDS``, in reading order, negated statements like "No pleural
    effusion." skipped) that has a training hypothesis, or None when the report names none:
    the method then runs without its gaze control (Eq. 6's indicator off). Never uses the
    labels of the image being scored.
    """
    import re

    from radgazegen.core.labels import FINDING_KEYWORDS

    have = hypotheses.drop_duplicates("finding").set_index("finding")["control_path"]
    for sentence in re.split(r"(?<=[.!?])\s+", report):
        words = re.findall(r"[a-z]+", sentence.lower())
        if not words or words[0] in ("no", "without"):
            continue
        for w in words:
            for finding, keys in FINDING_KEYWORDS.items():
                if w in keys and finding in have.index:
                    return finding, str(have[finding])
    return None


class XRVFeatures:
    """TorchXRayVision DenseNet-121 ``features2``: ``(N, H, W)`` uint8 -> ``(N, 1024)`` float32,
    from local weights only (``standins.load_xrv_densenet``: ``weights_dir`` holds the file
    named as TorchXRayVision's URL; nothing is downloaded; the file is unpickled: use only
    weights you trust).
    """

    def __init__(self, weights_dir: str | Path, weights: str = XRV_WEIGHTS, device: str = "cpu", batch_size: int = 16):
        self.model = load_xrv_densenet(weights_dir, weights).to(device)
        self.name = f"TorchXRayVision DenseNet-121 features2 ({weights})"
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        return batched(lambda b: self.model.features2(xrv_input(b).to(self.device)).float().cpu().numpy(),
                       images, self.batch_size, 1024)


class StudyFeatures:
    """``standins.StudyEncoder.features`` as a ``FeatureExtractor``: ``(N, H, W)`` uint8 ->
    ``(N, D)`` float32 (D = 8 x the encoder's width)."""

    name = "study encoder trained on the cohort (TorchXRayVision weights absent)"

    def __init__(self, model: StudyEncoder):
        self.model = model.eval()

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.model.features(self.model.to_input(images)).numpy()
