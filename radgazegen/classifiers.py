"""Classifiers that judge generated images (Tables 3 and 4) and a lesion localiser (the gaze claim).

- Table 3: the TorchXRayVision DenseNet-121 when its weights are present locally
  (``XRVClassifier``); otherwise a torchvision DenseNet-121 trained here on the cohort's
  training images (``train_classifier("densenet121", ...)``), named as such.
- Table 4: a torchvision ResNet-50 trained from scratch on real plus generated images.
- The gaze claim: ``train_localiser`` learns a per-pixel lesion map from the cohort's
  ground-truth boxes; ``pointing_game`` asks whether a generated image's strongest lesion
  response falls inside the box behind its gaze control.

Images are ``(N, H, W)`` uint8. Models are saved as safetensors plus a JSON config.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from radgazegen.io import load_state, save_state
from radgazegen.training import fit_epochs

ARCHS = ("densenet121", "resnet50", "resnet18")  # resnet18: the smoke stand-in for ResNet-50 on CPU
_MEAN, _STD = 0.449, 0.226  # ImageNet grey-level mean/std (the MIMIC-CXR-LT recipe normalises like ImageNet)


def new_classifier(arch: str, n_classes: int) -> nn.Module:
    """A torchvision ``densenet121``, ``resnet50`` (or ``resnet18``) with random weights and ``n_classes`` outputs."""
    import torchvision

    if arch not in ARCHS:
        raise ValueError(f"arch: unknown classifier {arch!r}; expected one of {ARCHS}")
    return getattr(torchvision.models, arch)(weights=None, num_classes=n_classes)


def to_input(images: np.ndarray, size: int) -> torch.Tensor:
    """``(N, H, W)`` uint8 -> ``(N, 3, size, size)`` float, ImageNet-normalised grey replicated."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"classifier input: expected (N, H, W) uint8, got {images.dtype} {images.shape}")
    x = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images]).astype(np.float32) / 255.0
    return ((torch.from_numpy(x) - _MEAN) / _STD)[:, None].repeat(1, 3, 1, 1)


def train_classifier(arch: str, images: np.ndarray, targets: np.ndarray, multilabel: bool, size: int = 224,
                     epochs: int = 10, batch_size: int = 32, lr: float = 1e-4, seed: int = 0, device: str = "cpu",
                     progress: bool = True) -> tuple[nn.Module, list[float]]:
    """Train a classifier from scratch; returns (model in eval mode, mean loss per epoch).

    targets: ``(N, C)`` in {0, 1} with ``multilabel`` (BCE, Table 3) or ``(N,)`` class indices
    (cross-entropy, Table 4). size: input side in px. Deterministic per seed on CPU.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n_classes = targets.shape[1] if multilabel else int(targets.max()) + 1
    model = new_classifier(arch, n_classes).to(device)
    model.config = {"arch": arch, "n_classes": n_classes, "size": size, "multilabel": multilabel}
    x = to_input(images, size)
    y = torch.as_tensor(targets, dtype=torch.float32 if multilabel else torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    def loss_fn(idx):
        out = model(x[idx].to(device))
        return (F.binary_cross_entropy_with_logits(out, y[idx].to(device)) if multilabel
                else F.cross_entropy(out, y[idx].to(device)))

    losses = fit_epochs(model, loss_fn, len(x), epochs, batch_size, opt, gen, arch, progress, min_batch=2)
    return model.eval(), losses


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """Probabilities ``(N, C)``: sigmoid for a multi-label model, softmax otherwise."""
    cfg = model.config
    model.eval().to(device)
    out = []
    for i in range(0, len(images), batch_size):
        logits = model(to_input(images[i:i + batch_size], cfg["size"]).to(device)).float().cpu()
        out.append(torch.sigmoid(logits) if cfg["multilabel"] else torch.softmax(logits, -1))
    return torch.cat(out).numpy() if out else np.zeros((0, cfg["n_classes"]), np.float32)


def save_classifier(model: nn.Module, folder: str | Path) -> None:
    """``folder/model.safetensors`` + ``config.json`` (written atomically)."""
    save_state(folder, model, model.config)


def load_classifier(folder: str | Path) -> nn.Module:
    config, state = load_state(folder, "classifier")
    model = new_classifier(config["arch"], config["n_classes"])
    model.load_state_dict(state)
    model.config = config
    return model.eval()


class XRVClassifier:
    """TorchXRayVision DenseNet-121 (``densenet121-res224-all``) from a local weights folder.

    ``__call__(images) -> (N, 18)`` probabilities in ``self.pathologies`` order; nothing is
    downloaded. TorchXRayVision unpickles the file: use only weights you trust.
    """

    def __init__(self, weights_dir: str | Path, weights: str = "densenet121-res224-all", device: str = "cpu"):
        import torchxrayvision as xrv

        fname = Path(xrv.models.model_urls[weights]["weights_url"]).name
        path = Path(weights_dir).expanduser() / fname
        if not path.is_file():
            raise FileNotFoundError(f"{path}: TorchXRayVision weights {weights!r} not found (expected {fname} in "
                                    f"{weights_dir}; they are not downloaded)")
        self.model = xrv.models.DenseNet(weights=weights, cache_dir=str(Path(weights_dir).expanduser())).to(device).eval()
        self.pathologies = list(self.model.pathologies)
        self.name = f"TorchXRayVision DenseNet-121 ({weights})"
        self.device = device

    @torch.no_grad()
    def __call__(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        import torchxrayvision as xrv

        out = []
        for i in range(0, len(images), batch_size):
            b = np.stack([cv2.resize(im, (224, 224), interpolation=cv2.INTER_AREA) for im in images[i:i + batch_size]])
            x = torch.from_numpy(xrv.datasets.normalize(b.astype(np.float32), 255))[:, None].to(self.device)
            out.append(self.model(x).float().cpu().numpy())
        return np.concatenate(out)


# ---------------------------------------------------------------- lesion localiser

class Localiser(nn.Module):
    """A small fully convolutional net: ``(N, 1, S, S)`` float in [0, 1] -> ``(N, 1, S, S)``
    lesion logits (S = ``size``)."""

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
        s = self.config["size"]
        return torch.from_numpy(np.stack([cv2.resize(im, (s, s), interpolation=cv2.INTER_AREA)
                                          for im in images]).astype(np.float32) / 255.0)[:, None]

    @torch.no_grad()
    def heatmaps(self, images: np.ndarray) -> np.ndarray:
        """``(N, S, S)`` lesion probabilities."""
        self.eval()
        return torch.sigmoid(self(self.to_input(images)))[:, 0].numpy()


def box_masks(boxes: Sequence[Sequence[tuple[float, float, float, float]]], sizes: Sequence[tuple[int, int]],
              size: int) -> np.ndarray:
    """``(N, size, size)`` float masks: 1 inside each image's boxes ``(x1, y1, x2, y2)`` given in
    pixels of an image of ``sizes[i] = (width, height)``."""
    out = np.zeros((len(boxes), size, size), np.float32)
    for m, bs, (w, h) in zip(out, boxes, sizes):
        for x1, y1, x2, y2 in bs:
            m[int(y1 * size / h):int(np.ceil(y2 * size / h)), int(x1 * size / w):int(np.ceil(x2 * size / w))] = 1
    return out


def train_localiser(images: np.ndarray, masks: np.ndarray, epochs: int = 20, batch_size: int = 16, lr: float = 2e-3,
                    seed: int = 0, size: int = 64, progress: bool = True) -> tuple[Localiser, list[float]]:
    """Train ``Localiser`` on real images and their lesion box masks ``(N, size, size)``
    (BCE, positives up-weighted by the background/foreground ratio). Deterministic per seed."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Localiser(size=size)
    x, y = model.to_input(images), torch.from_numpy(masks)[:, None]
    pos = float(y.mean())
    weight = torch.tensor((1 - pos) / max(pos, 1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    def loss_fn(idx):
        return F.binary_cross_entropy_with_logits(model(x[idx]), y[idx], pos_weight=weight)

    losses = fit_epochs(model, loss_fn, len(x), epochs, batch_size, opt, gen, "localiser", progress, min_batch=2)
    return model.eval(), losses


def pointing_game(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image: 1 if the heatmap's maximum lies inside the mask, else 0; ``(N,)`` float.
    The chance level of a random point is the mask's area fraction (``masks.mean((1, 2))``)."""
    flat = heatmaps.reshape(len(heatmaps), -1).argmax(1)
    return masks.reshape(len(masks), -1)[np.arange(len(masks)), flat].astype(np.float32)
