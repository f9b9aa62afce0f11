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
(``StudyEncoder``, 128-d). Every output names the extractor it used.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radgazegen.io import load_state, save_state
from radgazegen.training import fit_epochs

#: The TorchXRayVision weights whose ``features2`` the authors use.
XRV_WEIGHTS = "densenet121-res224-all"


class FeatureExtractor(Protocol):
    name: str

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """``(N, H, W)`` uint8 radiographs -> ``(N, D)`` float32 features."""


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


class XRVFeatures:
    """TorchXRayVision DenseNet-121 ``features2``: ``(N, 1024)`` float32, from local weights only.

    weights_dir: folder holding TorchXRayVision's weight file for ``weights`` (the file name of
    its URL, e.g. ``nih-pc-chex-mimic_ch-google-openi-kaggle-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt``);
    nothing is downloaded. TorchXRayVision unpickles this file: use only weights you trust.
    """

    def __init__(self, weights_dir: str | Path, weights: str = XRV_WEIGHTS, device: str = "cpu", batch_size: int = 16):
        import torchxrayvision as xrv

        if weights not in xrv.models.model_urls:
            raise ValueError(f"weights: unknown TorchXRayVision weights {weights!r}")
        fname = Path(xrv.models.model_urls[weights]["weights_url"]).name
        path = Path(weights_dir).expanduser() / fname
        if not path.is_file():
            raise FileNotFoundError(f"{path}: TorchXRayVision weights {weights!r} not found (expected {fname} in "
                                    f"{weights_dir}; they are not downloaded)")
        self.model = xrv.models.DenseNet(weights=weights, cache_dir=str(Path(weights_dir).expanduser())).to(device).eval()
        self.name = f"TorchXRayVision DenseNet-121 features2 ({weights})"
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torchxrayvision as xrv

        out = []
        for i in range(0, len(images), self.batch_size):
            batch = np.stack([cv2.resize(im, (224, 224), interpolation=cv2.INTER_AREA) for im in images[i:i + self.batch_size]])
            x = torch.from_numpy(xrv.datasets.normalize(batch.astype(np.float32), 255))[:, None].to(self.device)
            out.append(self.model.features2(x).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1024), np.float32)


class StudyEncoder(nn.Module):
    """A small CNN trained on the cohort's training labels; its pooled features stand in for
    TorchXRayVision's when those weights are absent.

    Input ``(N, 1, S, S)`` float in [0, 1] (S = ``size``, default 128); ``features`` returns
    ``(N, width * 8)`` after global average pooling; ``forward`` returns ``(N, n_classes)`` logits.
    """

    def __init__(self, n_classes: int, width: int = 16, size: int = 128):
        super().__init__()
        chans = [1, width, width * 2, width * 4, width * 8]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1], n_classes)
        self.config = {"n_classes": n_classes, "width": width, "size": size}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.body(x), 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def to_input(self, images: np.ndarray) -> torch.Tensor:
        s = self.config["size"]
        batch = np.stack([cv2.resize(im, (s, s), interpolation=cv2.INTER_AREA) for im in images])
        return torch.from_numpy(batch.astype(np.float32) / 255.0)[:, None]

    def save(self, folder: str | Path) -> None:
        """``folder/encoder.safetensors`` + ``config.json`` (written atomically)."""
        save_state(folder, self, self.config, "encoder.safetensors")

    @classmethod
    def load(cls, folder: str | Path) -> "StudyEncoder":
        config, state = load_state(folder, "study encoder", "encoder.safetensors")
        model = cls(**config)
        model.load_state_dict(state)
        return model.eval()


def train_study_encoder(images: np.ndarray, targets: np.ndarray, epochs: int = 10, batch_size: int = 32,
                        lr: float = 1e-3, seed: int = 0, size: int = 128, width: int = 16,
                        progress: bool = True) -> tuple[StudyEncoder, list[float]]:
    """Train ``StudyEncoder`` as a multi-label classifier (BCE) on the training radiographs.

    images: ``(N, H, W)`` uint8; targets: ``(N, C)`` in {0, 1}. Deterministic for a seed on CPU.
    Returns the model (eval mode) and the mean loss of each epoch.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = StudyEncoder(targets.shape[1], width=width, size=size)
    x, y = model.to_input(images), torch.as_tensor(targets, dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    def loss_fn(idx):
        return F.binary_cross_entropy_with_logits(model(x[idx]), y[idx])

    losses = fit_epochs(model, loss_fn, len(x), epochs, batch_size, opt, gen, "study encoder", progress)
    return model.eval(), losses


class StudyFeatures:
    """``StudyEncoder.features`` as a ``FeatureExtractor``: ``(N, H, W)`` uint8 -> ``(N, D)`` float32."""

    name = "study encoder trained on the cohort (TorchXRayVision weights absent)"

    def __init__(self, model: StudyEncoder):
        self.model = model.eval()

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.model.features(self.model.to_input(images)).numpy()
