"""The paper's evaluation metrics (§4.2, Tables 1-5), computed with the standard libraries.

- Image quality: FID (torchmetrics ``FrechetInceptionDistance``), SSIM and PSNR (torchmetrics).
- Controllability (Table 2): SSIM between a filter (Canny, Sobel, GL) of the generated image
  and the control it was given; IoU between the lung mask of the generated image and the
  control mask, averaged over images (mIoU); CLIP score (torchmetrics) of image vs prompt.
- Classification (Tables 3, 4): AUC, macro-F1, balanced accuracy (scikit-learn).

Images are ``(N, H, W)`` uint8 arrays in 0..255 unless said otherwise. Where a metric needs
pretrained weights that are absent (Inception for FID, CLIP), a model the study trains on the
cohort stands in and the metric's ``name`` says so; every table shows that name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from radgazegen.io import load_state, save_state
from radgazegen.training import fit_epochs


def _check(images: np.ndarray, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{what}: expected (N, H, W) uint8 images, got {images.dtype} {images.shape}")
    return images


def _pair(a: np.ndarray, b: np.ndarray, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _check(a, f"{what} (first)"), _check(b, f"{what} (second)")
    if a.shape != b.shape:
        raise ValueError(f"{what}: shapes differ, {a.shape} vs {b.shape}")
    return (torch.from_numpy(a.astype(np.float32))[:, None], torch.from_numpy(b.astype(np.float32))[:, None])


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of image pairs ``a[i]``, ``b[i]`` (torchmetrics, data range 255): 1 for identical."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    x, y = _pair(a, b, "ssim")
    return float(structural_similarity_index_measure(x, y, data_range=255.0))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean PSNR in dB of image pairs (torchmetrics, data range 255, averaged per image).

    Identical pairs give ``inf`` (the library's answer for zero error)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    x, y = _pair(a, b, "psnr")
    return float(peak_signal_noise_ratio(x, y, data_range=255.0, reduction="elementwise_mean", dim=(1, 2, 3)))


def mean_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """mIoU: the IoU of binary masks ``pred[i] > 0`` and ``truth[i] > 0`` averaged over images
    (torchmetrics ``binary_jaccard_index``; two empty masks count as IoU 1)."""
    from torchmetrics.functional.classification import binary_jaccard_index

    p, t = _pair(pred, truth, "mean_iou")
    scores = []
    for a, b in zip(p > 0, t > 0):
        scores.append(1.0 if not a.any() and not b.any() else float(binary_jaccard_index(a.int(), b.int())))
    return float(np.mean(scores))


def controllability(generated: np.ndarray, controls: dict[str, np.ndarray],
                    lung_mask: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, float]:
    """Table 2's controllability of generated images against the controls they were given.

    generated: ``(N, H, W)`` uint8; controls: name -> ``(N, H, W)`` uint8 control images
    (``canny``, ``sobel``, ``gl``, ``segmentation``), at the generated size. The filter of
    the same name is applied to each generated image (``radgazegen.controls``, same
    parameters as the controls) and compared by SSIM; ``segmentation`` is compared by mIoU
    of ``lung_mask(image)`` (notebook 02's segmenter) with the control mask.
    """
    from radgazegen import controls as filters

    out = {}
    size = generated.shape[1:]
    for name, ctl in controls.items():
        if name == "segmentation":
            if lung_mask is None:
                raise ValueError("controllability: segmentation needs a lung_mask function")
            out["segmentation (mIoU)"] = mean_iou(np.stack([lung_mask(g) for g in generated]), ctl)
        elif name in ("canny", "sobel", "gl"):
            fn = {"canny": filters.canny, "sobel": filters.sobel, "gl": filters.gaussian_laplace}[name]
            out[f"{name} (SSIM)"] = ssim(np.stack([fn(g, size=(size[1], size[0])) for g in generated]), ctl)
        else:
            raise ValueError(f"controllability: unknown control {name!r}; expected canny, sobel, gl or segmentation")
    return out


# ---------------------------------------------------------------- FID

class StudyImageFeatures(nn.Module):
    """A study-trained encoder's pooled features as a torchmetrics FID feature extractor.

    Input ``(N, 3, H, W)`` uint8 (what torchmetrics passes); output ``(N, D)`` float64."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder.eval()
        self.num_features = int(encoder.features(torch.zeros(1, 1, 32, 32)).shape[1])

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.encoder.config["size"]
        x = x[:, :1].float() / 255.0
        x = F.interpolate(x, size=(s, s), mode="area")
        return self.encoder.features(x).double()


@dataclass
class FID:
    """Fréchet distance between feature distributions of real and generated images.

    ``FID.inception(weights_path)``: torchmetrics' Inception-v3 (2048-d pool features) with the
    FID Inception weights from a local file (torch-fidelity's ``pt_inception-2015-12-05``);
    ``FID.study(encoder)``: a ``hypotheses.StudyEncoder`` trained on the cohort, named
    "FID (study features)". Images are fed at their own size (torchmetrics resizes for Inception).
    """
    feature: object
    name: str
    weights: Path | None = None

    @classmethod
    def inception(cls, weights_path: str | Path) -> "FID":
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: FID Inception weights not found (torch-fidelity's "
                                    "pt_inception-2015-12-05-6726825d.pth; they are not downloaded)")
        return cls(2048, f"FID (Inception-v3, {path.name})", path)

    @classmethod
    def study(cls, encoder) -> "FID":
        return cls(StudyImageFeatures(encoder), "FID (study features)")

    def __call__(self, real: np.ndarray, generated: np.ndarray) -> float:
        """FID between two sets of ``(N, H, W)`` uint8 images (at least 2 each)."""
        from torchmetrics.image.fid import FrechetInceptionDistance

        real, generated = _check(real, "fid (real)"), _check(generated, "fid (generated)")
        if len(real) < 2 or len(generated) < 2:
            raise ValueError(f"fid: need at least 2 images per set, got {len(real)} real and {len(generated)} generated")
        kw = {"feature_extractor_weights_path": str(self.weights)} if self.weights else {}
        metric = FrechetInceptionDistance(feature=self.feature, normalize=False, **kw)
        for images, real_set in ((real, True), (generated, False)):
            for i in range(0, len(images), 64):
                metric.update(torch.from_numpy(images[i:i + 64])[:, None].repeat(1, 3, 1, 1), real=real_set)
        return float(metric.compute())


# ---------------------------------------------------------------- CLIP score

class StudyCLIP(nn.Module):
    """An image-report contrastive model trained on the cohort; stands in for CLIP.

    Image tower: a small CNN on ``(N, 1, S, S)`` float in [0, 1]; text tower: mean of token
    embeddings (CLIP's BPE ids from ``models.clip_tokenizer``). Both project to ``dim`` and are
    L2-normalised; ``score`` is torchmetrics' CLIP-score definition, ``100 * max(cos, 0)``.
    """

    def __init__(self, vocab_size: int = 49408, dim: int = 64, width: int = 16, size: int = 64):
        super().__init__()
        chans = [1, width, width * 2, width * 4]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.image_tower = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(chans[-1], dim))
        self.text_tower = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))
        self.config = {"vocab_size": vocab_size, "dim": dim, "width": width, "size": size}
        self.name = "CLIP score (study image-report model; CLIP weights absent)"

    def to_input(self, images: np.ndarray) -> torch.Tensor:
        s = self.config["size"]
        return torch.from_numpy(np.stack([cv2.resize(im, (s, s), interpolation=cv2.INTER_AREA)
                                          for im in images]).astype(np.float32) / 255.0)[:, None]

    def embed(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.normalize(self.image_tower(x), dim=-1), F.normalize(self.text_tower(ids), dim=-1)

    @torch.no_grad()
    def score(self, images: np.ndarray, token_ids: torch.Tensor) -> np.ndarray:
        """Per-pair CLIP score ``100 * max(cos(image, text), 0)``, ``(N,)``."""
        self.eval()
        i, t = self.embed(self.to_input(_check(images, "clip score")), token_ids)
        return (100 * (i * t).sum(-1).clamp(min=0)).numpy()

    def save(self, folder: str | Path) -> None:
        """``folder/model.safetensors`` + ``config.json`` (written atomically)."""
        save_state(folder, self, self.config)

    @classmethod
    def load(cls, folder: str | Path) -> "StudyCLIP":
        config, state = load_state(folder, "study CLIP")
        model = cls(**config)
        model.load_state_dict(state)
        return model.eval()


def token_ids(tokenizer, prompts: Sequence[str]) -> torch.Tensor:
    """``(N, 77)`` CLIP BPE ids with padding as 0 (for ``StudyCLIP``'s bag of tokens)."""
    ids = tokenizer(list(prompts), padding="max_length", truncation=True, max_length=77, return_tensors="pt").input_ids
    mask = torch.zeros_like(ids, dtype=torch.bool)
    for row, seq in zip(mask, ids):  # keep tokens up to the first end-of-text
        end = int((seq == tokenizer.eos_token_id).nonzero()[0]) if (seq == tokenizer.eos_token_id).any() else len(seq)
        row[:end + 1] = True
    return torch.where(mask, ids, torch.zeros_like(ids))


def train_study_clip(images: np.ndarray, ids: torch.Tensor, epochs: int = 20, batch_size: int = 32,
                     lr: float = 2e-3, seed: int = 0, size: int = 64, progress: bool = True) -> tuple[StudyCLIP, list[float]]:
    """Train ``StudyCLIP`` with CLIP's symmetric contrastive loss on (image, report) pairs.

    images: ``(N, H, W)`` uint8; ids: ``(N, 77)`` from ``token_ids``. Deterministic per seed on
    CPU. Returns the model (eval mode) and each epoch's mean loss."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = StudyCLIP(size=size)
    x = model.to_input(_check(images, "train_study_clip"))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    def loss_fn(idx):
        im, tx = model.embed(x[idx], ids[idx])
        logits = model.logit_scale.exp() * im @ tx.T
        target = torch.arange(len(idx))
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

    losses = fit_epochs(model, loss_fn, len(x), epochs, batch_size, opt, gen, "study CLIP", progress, min_batch=2)
    return model.eval(), losses


def clip_score_local(images: np.ndarray, prompts: Sequence[str], model_dir: str | Path) -> float:
    """torchmetrics ``CLIPScore`` with a CLIP model from a local directory (e.g. ViT-B/16 in
    transformers layout): mean of ``100 * max(cos, 0)``. Nothing is downloaded."""
    from torchmetrics.multimodal.clip_score import CLIPScore

    path = Path(model_dir).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path / 'config.json'}: local CLIP model not found (transformers layout expected)")
    metric = CLIPScore(model_name_or_path=str(path))
    x = torch.from_numpy(_check(images, "clip score"))[:, None].repeat(1, 3, 1, 1)
    return float(metric(x, list(prompts)))


# ---------------------------------------------------------------- classification

def auc_per_class(y_true: np.ndarray, y_score: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """ROC AUC (scikit-learn) per column; NaN where the column has one class only."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for j, name in enumerate(names):
        t = np.asarray(y_true)[:, j]
        out[name] = float(roc_auc_score(t, y_score[:, j])) if len(np.unique(t)) == 2 else float("nan")
    return out


def long_tail_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str],
                     groups: dict[str, Sequence[str]]) -> dict[str, float]:
    """Per-group accuracy (mean of per-class recall over the group's classes), their average over
    all classes, macro-F1 and balanced accuracy (scikit-learn). y_true, y_pred: class indices."""
    from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

    labels = np.arange(len(classes))
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, np.unique(y_true))
    out = {}
    for g, names in groups.items():
        idx = [classes.index(c) for c in names if present[classes.index(c)]]
        out[g] = float(np.mean(recall[idx])) if idx else float("nan")
    out["Avg"] = float(np.mean(recall[present]))
    out["mF1"] = float(f1_score(y_true, y_pred, labels=labels[present], average="macro", zero_division=0))
    out["bAcc"] = float(balanced_accuracy_score(y_true, y_pred))
    return out
