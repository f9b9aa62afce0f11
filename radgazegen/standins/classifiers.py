"""torchvision classifiers trained here (Tables 3 and 4).

- Table 3: a torchvision DenseNet-121 trained on the cohort's MIMIC-CXR-LT training images
  stands in for TorchXRayVision's DenseNet-121 (``xrv.XRVClassifier``) when its weights are
  absent (``train_classifier("densenet121", ..., multilabel=True)``).
- Table 4: a torchvision ResNet-50 trained from scratch on real plus generated images, as
  the paper does (``resnet18`` is the CPU smoke stand-in for it).

Images are ``(N, H, W)`` uint8; inputs are ``to_input``'s, ImageNet-normalised and the grey
channel replicated to 3. Models are saved as safetensors plus a JSON config.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from radgazegen.standins.fitting import fit_epochs, seeded
from radgazegen.standins.nets import batched, load_module, save_module, to_input

ARCHS = ("densenet121", "resnet50", "resnet18")  # resnet18: the smoke stand-in for ResNet-50 on CPU
_MEAN, _STD = 0.449, 0.226  # ImageNet grey-level mean/std (the MIMIC-CXR-LT recipe normalises like ImageNet)


def new_classifier(arch: str, n_classes: int) -> nn.Module:
    """A torchvision ``densenet121``, ``resnet50`` (or ``resnet18``) with random weights and ``n_classes`` outputs."""
    import torchvision

    if arch not in ARCHS:
        raise ValueError(f"arch: unknown classifier {arch!r}; expected one of {ARCHS}")
    return getattr(torchvision.models, arch)(weights=None, num_classes=n_classes)


def imagenet_input(images: np.ndarray, size: int) -> torch.Tensor:
    """``(N, H, W)`` uint8 -> ``(N, 3, size, size)`` float32: ``to_input``'s [0, 1] grey,
    ImageNet-normalised (``(x - 0.449) / 0.226``), replicated to 3 channels."""
    return ((to_input(images, size, "classifier input") - _MEAN) / _STD).repeat(1, 3, 1, 1)


def train_classifier(arch: str, images: np.ndarray, targets: np.ndarray, multilabel: bool, size: int = 224,
                     epochs: int = 10, batch_size: int = 32, lr: float = 1e-4, seed: int = 0, device: str = "cpu",
                     progress: bool = True) -> tuple[nn.Module, list[float]]:
    """Train a classifier from scratch; returns (model in eval mode, mean loss per epoch).

    images: ``(N, H, W)`` uint8. targets: ``(N, C)`` in {0, 1} with ``multilabel`` (BCE,
    Table 3) or ``(N,)`` class indices (cross-entropy, Table 4). size: input side in px.
    Deterministic per seed on CPU. ``model.config`` holds arch, n_classes, size, multilabel.
    """
    gen = seeded(seed)
    n_classes = targets.shape[1] if multilabel else int(targets.max()) + 1
    model = new_classifier(arch, n_classes).to(device)
    model.config = {"arch": arch, "n_classes": n_classes, "size": size, "multilabel": multilabel}
    x = imagenet_input(images, size)
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
    """Probabilities ``(N, C)`` float32 in [0, 1] of ``(N, H, W)`` uint8 images: sigmoid for a
    multi-label model, softmax otherwise."""
    cfg = model.config
    model.eval().to(device)

    def probabilities(batch: np.ndarray) -> np.ndarray:
        logits = model(imagenet_input(batch, cfg["size"]).to(device)).float().cpu()
        return (torch.sigmoid(logits) if cfg["multilabel"] else torch.softmax(logits, -1)).numpy()

    return batched(probabilities, images, batch_size, cfg["n_classes"])


def save_classifier(model: nn.Module, folder: str | Path) -> None:
    """``folder/model.safetensors`` + ``config.json`` (written atomically)."""
    save_module(model, folder)


def load_classifier(folder: str | Path) -> nn.Module:
    """A classifier saved by ``save_classifier``, in eval mode on the CPU."""
    return load_module(folder, "classifier", lambda c: new_classifier(c["arch"], c["n_classes"]))
