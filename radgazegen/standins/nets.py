"""The stand-ins' shared pieces and the two small image networks.

- ``to_input``: the one resizer, ``(N, H, W)`` uint8 radiographs -> ``(N, 1, S, S)`` float32
  in [0, 1] (OpenCV area interpolation); every stand-in and the TorchXRayVision models read
  their images through it.
- ``conv_stem``: the one CNN stem (conv 3x3 - BatchNorm - ReLU - max-pool 2, per stage),
  used by ``StudyEncoder`` and ``StudyCLIP``'s image tower.
- ``StudyEncoder`` (+ ``train_study_encoder``): stands in for TorchXRayVision's DenseNet-121
  ``features2`` in D(f_B, f_H) (§3.2.2) and for Inception-v3 in FID (``StudyImageFeatures``).
- ``Localiser`` (+ ``train_localiser``): a per-pixel lesion map for the pointing game.
- ``save_module`` / ``load_module``: safetensors + ``config.json`` (``radgazegen.core.io``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radgazegen.core.io import load_state, save_state
from radgazegen.standins.fitting import fit_epochs, seeded, training_device


def to_input(images: np.ndarray, size: int, what: str = "input") -> torch.Tensor:
    """``(N, H, W)`` uint8 in 0..255 -> ``(N, 1, size, size)`` float32 in [0, 1].

    Each image is resized with ``cv2.INTER_AREA`` to ``size`` x ``size`` px, then divided by
    255. ``what`` names the caller in the ``ValueError`` raised for other shapes or dtypes."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{what}: expected (N, H, W) uint8 images, got {images.dtype} {images.shape}")
    batch = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
    return torch.from_numpy(batch.astype(np.float32) / 255.0)[:, None]


def conv_stem(channels: Sequence[int]) -> nn.Sequential:
    """Stages conv 3x3 (padding 1) - BatchNorm - ReLU - max-pool 2 from ``channels[i]`` to
    ``channels[i + 1]``: ``(N, channels[0], S, S)`` -> ``(N, channels[-1], S / 2^k, S / 2^k)``
    for k = ``len(channels) - 1`` stages (flat ``nn.Sequential``: parameters ``0.weight``, ...)."""
    layers = []
    for cin, cout in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return nn.Sequential(*layers)


def batched(fn: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int, width: int) -> np.ndarray:
    """``fn`` over ``images`` in chunks of ``batch_size``, outputs concatenated: ``(N, width)``
    (``(0, width)`` float32 for no images)."""
    out = [fn(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, width), np.float32)


def save_module(model: nn.Module, folder: str | Path, weights: str = "model.safetensors") -> None:
    """``folder/<weights>`` (safetensors) + ``folder/config.json`` (``model.config``), written atomically."""
    save_state(folder, model, model.config, weights)


def load_module(folder: str | Path, what: str, build: Callable[[dict], nn.Module],
                weights: str = "model.safetensors") -> nn.Module:
    """What ``save_module`` wrote: ``build(config)`` with the saved weights, ``.config`` set, in
    eval mode. A missing file raises ``FileNotFoundError`` naming it and ``what``."""
    config, state = load_state(folder, what, weights)
    model = build(config)
    model.load_state_dict(state)
    model.config = config
    return model.eval()


# ---------------------------------------------------------------- study encoder

class StudyEncoder(nn.Module):
    """A small CNN trained on the cohort's training labels; its pooled features stand in for
    TorchXRayVision's when those weights are absent.

    Input ``(N, 1, S, S)`` float in [0, 1] (S = ``size``, default 128); ``features`` returns
    ``(N, width * 8)`` after global average pooling; ``forward`` returns ``(N, n_classes)`` logits.
    """

    def __init__(self, n_classes: int, width: int = 16, size: int = 128):
        super().__init__()
        self.body = conv_stem([1, width, width * 2, width * 4, width * 8])
        self.head = nn.Linear(width * 8, n_classes)
        self.config = {"n_classes": n_classes, "width": width, "size": size}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.body(x), 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def to_input(self, images: np.ndarray) -> torch.Tensor:
        return to_input(images, self.config["size"], "study encoder")

    def save(self, folder: str | Path) -> None:
        """``folder/encoder.safetensors`` + ``config.json`` (written atomically)."""
        save_module(self, folder, "encoder.safetensors")

    @classmethod
    def load(cls, folder: str | Path) -> "StudyEncoder":
        return load_module(folder, "study encoder", lambda c: cls(**c), "encoder.safetensors")


def train_study_encoder(images: np.ndarray, targets: np.ndarray, epochs: int = 10, batch_size: int = 32,
                        lr: float = 1e-3, seed: int = 0, size: int = 128, width: int = 16,
                        progress: bool = True, device: str | None = None) -> tuple[StudyEncoder, list[float]]:
    """Train ``StudyEncoder`` as a multi-label classifier (BCE) on the training radiographs.

    images: ``(N, H, W)`` uint8; targets: ``(N, C)`` in {0, 1}. Deterministic for a seed on CPU.
    Trains on ``training_device(device)``; returns the model (CPU, eval mode) and the mean
    loss of each epoch.
    """
    gen = seeded(seed)
    dev = training_device(device)
    model = StudyEncoder(targets.shape[1], width=width, size=size).to(dev)
    x, y = model.to_input(images).to(dev), torch.as_tensor(targets, dtype=torch.float32).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    def loss_fn(idx):
        idx = idx.to(dev)
        return F.binary_cross_entropy_with_logits(model(x[idx]), y[idx])

    losses = fit_epochs(model, loss_fn, len(x), epochs, batch_size, opt, gen, "study encoder", progress)
    return model.cpu().eval(), losses


class StudyImageFeatures(nn.Module):
    """A ``StudyEncoder``'s pooled features as a torchmetrics FID feature extractor (stands in
    for Inception-v3's 2048-d pool features).

    Input ``(N, 3, H, W)`` uint8 (what torchmetrics passes; channel 0 is used), resized to the
    encoder's ``size`` by area interpolation; output ``(N, D)`` float64."""

    def __init__(self, encoder: StudyEncoder):
        super().__init__()
        self.encoder = encoder.eval()
        self.num_features = int(encoder.features(torch.zeros(1, 1, 32, 32)).shape[1])

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.encoder.config["size"]
        x = x[:, :1].float() / 255.0
        x = F.interpolate(x, size=(s, s), mode="area")
        return self.encoder.features(x).double()


# ---------------------------------------------------------------- lesion localiser

class Localiser(nn.Module):
    """A small fully convolutional net: ``(N, 1, S, S)`` float in [0, 1] -> ``(N, 1, S, S)``
    lesion logits (S = ``size``); two pooled stages, then two dilated ones (dilation 2, 4)."""

    def __init__(self, width: int = 16, size: int = 64):
        super().__init__()
        w = width
        self.down = nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                  nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                  nn.Conv2d(2 * w, 4 * w, 3, padding=2, dilation=2), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True),
                                  nn.Conv2d(4 * w, 4 * w, 3, padding=4, dilation=4), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(4 * w, 1, 1)
        self.config = {"width": width, "size": size}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.out(self.down(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)

    def to_input(self, images: np.ndarray) -> torch.Tensor:
        return to_input(images, self.config["size"], "localiser")

    @torch.no_grad()
    def logits(self, images: np.ndarray) -> np.ndarray:
        """``(N, S, S)`` float32 lesion logits of ``(N, H, W)`` uint8 images (for an argmax: they do
        not saturate as the probabilities do, which tie at 1.0)."""
        self.eval()
        return self(self.to_input(images))[:, 0].numpy()

    def heatmaps(self, images: np.ndarray) -> np.ndarray:
        """``(N, S, S)`` float32 lesion probabilities in [0, 1] of ``(N, H, W)`` uint8 images."""
        return torch.sigmoid(torch.from_numpy(self.logits(images))).numpy()


def train_localiser(images: np.ndarray, masks: np.ndarray, epochs: int = 20, batch_size: int = 16, lr: float = 2e-3,
                    seed: int = 0, size: int = 64, progress: bool = True,
                    device: str | None = None) -> tuple[Localiser, list[float]]:
    """Train ``Localiser`` on real images ``(N, H, W)`` uint8 and their lesion box masks
    ``(N, size, size)`` float in {0, 1} (``metrics.box_masks``); BCE with positives up-weighted
    by the background/foreground ratio. Deterministic per seed on the CPU. Trains on
    ``training_device(device)``; returns (model on the CPU in eval mode, mean loss per epoch)."""
    gen = seeded(seed)
    dev = training_device(device)
    model = Localiser(size=size).to(dev)
    x, y = model.to_input(images).to(dev), torch.from_numpy(masks)[:, None].to(dev)
    pos = float(y.mean())
    weight = torch.tensor((1 - pos) / max(pos, 1e-3), device=dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    def loss_fn(idx):
        idx = idx.to(dev)
        return F.binary_cross_entropy_with_logits(model(x[idx]), y[idx], pos_weight=weight)

    losses = fit_epochs(model, loss_fn, len(x), epochs, batch_size, opt, gen, "localiser", progress, min_batch=2)
    return model.cpu().eval(), losses
