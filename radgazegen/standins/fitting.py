"""The small models' training loop: seeding and a minibatch loop over epochs.

Every stand-in (``StudyEncoder``, ``StudyCLIP``, ``Localiser``, the torchvision classifiers)
trains with ``fit_epochs``. The diffusion models (SD-CXR, Rad-CN, HVA-CN, the T2I-Adapter)
have their own loop in ``radgazegen.models.training``.
"""
from __future__ import annotations

from typing import Callable

import torch
from radgazegen.core.progress import tqdm


def training_device(device: str | None = None) -> torch.device:
    """Where a stand-in trains: ``device`` if given, else the GPU when there is one, else the
    CPU. The trainers return their model on the CPU (inference code stays device-free); on
    the CPU, training is deterministic per seed, on a GPU only up to cuDNN's kernel choices."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def seeded(seed: int) -> torch.Generator:
    """Seed torch's global generator (the model's initial weights) with ``seed`` and return a
    CPU ``torch.Generator`` seeded likewise (the epochs' shuffles): one seed, one run."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def fit_epochs(model: torch.nn.Module, loss_fn: Callable[[torch.Tensor], torch.Tensor], n: int, epochs: int,
               batch_size: int, optimizer, generator: torch.Generator, desc: str, progress: bool = True,
               min_batch: int = 1) -> list[float]:
    """Minibatch training: each epoch shuffles the ``n`` items with ``generator``, steps
    ``optimizer`` on ``loss_fn(indices)`` per mini-batch (``indices``: ``(B,)`` int64; batches
    smaller than ``min_batch`` are skipped: BatchNorm and contrastive losses need two) and
    records the epoch's mean loss (sum of batch loss x batch size over ``n``). Returns the
    losses, one per epoch. ``desc`` labels the tqdm bar (shown when ``progress``)."""
    losses = []
    for _ in tqdm(range(epochs), desc=desc, disable=not progress):
        model.train()
        order, total = torch.randperm(n, generator=generator), 0.0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < min_batch:
                continue
            loss = loss_fn(idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    return losses
