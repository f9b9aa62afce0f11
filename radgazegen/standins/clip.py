"""``StudyCLIP``: an image-report contrastive model trained on the cohort, standing in for
CLIP (ViT-B/16) in Table 2's CLIP score when no CLIP weights are given.

Its score uses CLIP score's definition, ``100 * max(cos(image, text), 0)``, but its values
are not comparable with CLIP's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radgazegen.standins.fitting import fit_epochs, seeded, training_device
from radgazegen.standins.nets import conv_stem, load_module, save_module, to_input

#: CLIP's context length (tokens per prompt, start and end included).
CONTEXT = 77
#: The stand-in's metric name, shown in Table 2 (a CLIP model's is "CLIP score (<its folder>)").
STUDY_CLIP_NAME = "CLIP score (study image-report model; CLIP weights absent)"


class StudyCLIP(nn.Module):
    """An image-report contrastive model trained on the cohort; stands in for CLIP.

    Image tower: ``conv_stem`` (3 stages) + pooling + a linear map, on ``(N, 1, S, S)`` float in
    [0, 1]; text tower: mean of token embeddings of ``(N, 77)`` CLIP BPE ids
    (``models.clip_tokenizer`` via ``token_ids``; 0 = padding). Both project to ``dim`` and
    are L2-normalised; ``score`` is torchmetrics' CLIP-score definition, ``100 * max(cos, 0)``.
    """

    def __init__(self, vocab_size: int = 49408, dim: int = 64, width: int = 16, size: int = 64):
        super().__init__()
        self.image_tower = nn.Sequential(*conv_stem([1, width, width * 2, width * 4]), nn.AdaptiveAvgPool2d(1),
                                         nn.Flatten(), nn.Linear(width * 4, dim))
        self.text_tower = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))
        self.config = {"vocab_size": vocab_size, "dim": dim, "width": width, "size": size}
        self.name = STUDY_CLIP_NAME

    def to_input(self, images: np.ndarray, what: str = "study CLIP") -> torch.Tensor:
        return to_input(images, self.config["size"], what)

    def embed(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit-norm image and text embeddings, each ``(N, dim)``."""
        return F.normalize(self.image_tower(x), dim=-1), F.normalize(self.text_tower(ids), dim=-1)

    @torch.no_grad()
    def score(self, images: np.ndarray, token_ids: torch.Tensor) -> np.ndarray:
        """Per-pair CLIP score ``100 * max(cos(image, text), 0)``, ``(N,)`` float32 in [0, 100]."""
        self.eval()
        i, t = self.embed(self.to_input(images, "clip score"), token_ids)
        return (100 * (i * t).sum(-1).clamp(min=0)).numpy()

    def save(self, folder: str | Path) -> None:
        """``folder/model.safetensors`` + ``config.json`` (written atomically)."""
        save_module(self, folder)

    @classmethod
    def load(cls, folder: str | Path) -> "StudyCLIP":
        return load_module(folder, "study CLIP", lambda c: cls(**c))


def token_ids(tokenizer, prompts: Sequence[str]) -> torch.Tensor:
    """``(N, 77)`` int64 CLIP BPE ids with padding as 0 (for ``StudyCLIP``'s bag of tokens):
    tokens after the first end-of-text are zeroed."""
    ids = tokenizer(list(prompts), padding="max_length", truncation=True, max_length=CONTEXT,
                    return_tensors="pt").input_ids
    mask = torch.zeros_like(ids, dtype=torch.bool)
    for row, seq in zip(mask, ids):  # keep tokens up to the first end-of-text
        end = int((seq == tokenizer.eos_token_id).nonzero()[0]) if (seq == tokenizer.eos_token_id).any() else len(seq)
        row[:end + 1] = True
    return torch.where(mask, ids, torch.zeros_like(ids))


def train_study_clip(images: np.ndarray, ids: torch.Tensor, epochs: int = 20, batch_size: int = 32,
                     lr: float = 2e-3, seed: int = 0, size: int = 64, progress: bool = True,
                     device: str | None = None) -> tuple[StudyCLIP, list[float]]:
    """Train ``StudyCLIP`` with CLIP's symmetric contrastive loss on (image, report) pairs.

    images: ``(N, H, W)`` uint8; ids: ``(N, 77)`` from ``token_ids``. Deterministic per seed on
    CPU. Trains on ``training_device(device)``; returns the model (CPU, eval mode) and each
    epoch's mean loss."""
    gen = seeded(seed)
    dev = training_device(device)
    model = StudyCLIP(size=size).to(dev)
    x, ids = model.to_input(images, "train_study_clip").to(dev), ids.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    def loss_fn(idx):
        idx = idx.to(dev)
        im, tx = model.embed(x[idx], ids[idx])
        logits = model.logit_scale.exp() * im @ tx.T
        target = torch.arange(len(idx), device=dev)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

    losses = fit_epochs(model, loss_fn, len(x), epochs, batch_size, opt, gen, "study CLIP", progress, min_batch=2)
    return model.cpu().eval(), losses
