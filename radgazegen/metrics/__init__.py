"""The paper's evaluation metrics (§4.2, Tables 1-5), computed with the standard libraries.

- Image quality: FID (torchmetrics ``FrechetInceptionDistance``), SSIM and PSNR (torchmetrics).
- Controllability (Table 2): SSIM between a filter (Canny, Sobel, GL) of the generated image
  and the control it was given; IoU between the lung mask of the generated image and the
  control mask, averaged over images (mIoU); CLIP score (torchmetrics) of image vs prompt.
- Classification (Tables 3, 4): AUC, macro-F1, balanced accuracy (scikit-learn).
- Localisation (notebook 13, not in the paper): ``box_masks`` and the ``pointing_game``.

Images are ``(N, H, W)`` uint8 arrays in 0..255 unless said otherwise. Where a metric needs
pretrained weights that are absent (Inception for FID, CLIP), a model the study trains on the
cohort (``radgazegen.standins``) stands in and the metric's ``name`` says so; every table
shows that name. Feature models are built once per table: ``FID.set_real`` keeps the real
images' features, ``clip_score_local`` keeps its CLIP model.
"""
from __future__ import annotations

import warnings

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from radgazegen.standins import StudyEncoder, StudyImageFeatures


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


def ssim(a: np.ndarray, b: np.ndarray, per_image: bool = False):
    """Mean SSIM of image pairs ``a[i]``, ``b[i]`` (torchmetrics, data range 255): 1 for
    identical. ``per_image``: the ``(N,)`` SSIMs it averages (intervals over findings)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    x, y = _pair(a, b, "ssim")
    each = structural_similarity_index_measure(x, y, data_range=255.0, reduction="none")
    return each.double().numpy() if per_image else float(each.mean())


def psnr(a: np.ndarray, b: np.ndarray, per_image: bool = False):
    """Mean PSNR in dB of image pairs (torchmetrics, data range 255, averaged per image);
    ``per_image``: the ``(N,)`` PSNRs it averages.

    Identical pairs give ``inf`` (the library's answer for zero error)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    x, y = _pair(a, b, "psnr")
    each = peak_signal_noise_ratio(x, y, data_range=255.0, reduction="none", dim=(1, 2, 3))
    return each.double().numpy() if per_image else float(each.mean())


def mean_iou(pred: np.ndarray, truth: np.ndarray, per_image: bool = False):
    """mIoU: the IoU of binary masks ``pred[i] > 0`` and ``truth[i] > 0`` averaged over images
    (torchmetrics ``binary_jaccard_index``; two empty masks count as IoU 1); ``per_image``:
    the ``(N,)`` IoUs."""
    from torchmetrics.functional.classification import binary_jaccard_index

    p, t = _pair(pred, truth, "mean_iou")
    scores = np.array([1.0 if not a.any() and not b.any() else float(binary_jaccard_index(a.int(), b.int()))
                       for a, b in zip(p > 0, t > 0)])
    return scores if per_image else float(scores.mean())


def controllability(generated: np.ndarray, controls: dict[str, np.ndarray],
                    lung_mask: Callable[[np.ndarray], np.ndarray] | None = None, per_image: bool = False) -> dict:
    """Table 2's controllability of generated images against the controls they were given.

    generated: ``(N, H, W)`` uint8; controls: name -> ``(N, H, W)`` uint8 control images
    (``canny``, ``sobel``, ``gl``, ``segmentation``), at the generated size. The filter of
    the same name is applied to each generated image (``radgazegen.controls``, same
    parameters as the controls) and compared by SSIM; ``segmentation`` is compared by mIoU
    of ``lung_mask(image)`` (notebook 02's segmenter) with the control mask. ``per_image``:
    each value is the ``(N,)`` array of per-image scores it averages.
    """
    from radgazegen import controls as filters
    from radgazegen.core.vocabulary import CANNY, GL, RADIOMICS_MAPS, SEGMENTATION, SOBEL

    out = {}
    size = generated.shape[1:]
    for name, ctl in controls.items():
        if name == SEGMENTATION:
            if lung_mask is None:
                raise ValueError("controllability: segmentation needs a lung_mask function")
            out["segmentation (mIoU)"] = mean_iou(np.stack([lung_mask(g) for g in generated]), ctl, per_image)
        elif name in RADIOMICS_MAPS:
            fn = {CANNY: filters.canny, SOBEL: filters.sobel, GL: filters.gaussian_laplace}[name]
            out[f"{name} (SSIM)"] = ssim(np.stack([fn(g, size=(size[1], size[0])) for g in generated]), ctl, per_image)
        else:
            raise ValueError(f"controllability: unknown control {name!r}; expected canny, sobel, gl or segmentation")
    return out


# ---------------------------------------------------------------- FID

@dataclass
class FID:
    """Fréchet distance between feature distributions of real and generated images.

    ``FID.inception(weights_path)``: torchmetrics' Inception-v3 (2048-d pool features) with the
    FID Inception weights from a local file (torch-fidelity's ``pt_inception-2015-12-05``);
    ``FID.study(encoder)``: a ``standins.StudyEncoder`` trained on the cohort, named
    "FID (study features)". Images are fed at their own size (torchmetrics resizes for Inception).

    Use: ``fid.set_real(real)`` once per table (the feature network is built and the real
    images' features extracted once), then ``fid(generated)`` per set of generated images.
    ``fid(real, generated)`` is ``set_real(real)`` followed by ``fid(generated)``.
    """
    feature: object
    name: str
    weights: Path | None = None
    _metric: object = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def inception(cls, weights_path: str | Path) -> "FID":
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: FID Inception weights not found (torch-fidelity's "
                                    "pt_inception-2015-12-05-6726825d.pth; they are not downloaded)")
        return cls(2048, f"FID (Inception-v3, {path.name})", path)

    @classmethod
    def study(cls, encoder: StudyEncoder) -> "FID":
        return cls(StudyImageFeatures(encoder), "FID (study features)")

    def set_real(self, real: np.ndarray) -> "FID":
        """Extract the features of the real ``(N, H, W)`` uint8 images (N >= 2) once; returns self."""
        from torchmetrics.image.fid import FrechetInceptionDistance

        real = _check(real, "fid (real)")
        if len(real) < 2:
            raise ValueError(f"fid: need at least 2 real images, got {len(real)}")
        kw = {"feature_extractor_weights_path": str(self.weights)} if self.weights else {}
        self._metric = FrechetInceptionDistance(feature=self.feature, normalize=False, reset_real_features=False, **kw)
        _fid_update(self._metric, real, True)
        return self

    def __call__(self, real_or_generated: np.ndarray, generated: np.ndarray | None = None) -> float:
        """``fid(generated)``: FID of ``(N, H, W)`` uint8 images (N >= 2) against the real set of
        ``set_real``; ``fid(real, generated)``: against ``real`` (which becomes the real set)."""
        if generated is None:
            generated = real_or_generated
        else:
            self.set_real(real_or_generated)
        if self._metric is None:
            raise ValueError("fid: no real images; call set_real(real) first or give fid(real, generated)")
        generated = _check(generated, "fid (generated)")
        if len(generated) < 2:
            raise ValueError(f"fid: need at least 2 generated images, got {len(generated)}")
        self._metric.reset()  # the generated set's statistics only: the real ones are kept
        _fid_update(self._metric, generated, False)
        return float(self._metric.compute())


    @torch.no_grad()
    def features(self, images: np.ndarray) -> np.ndarray:
        """``(N, D)`` float64: the features FID is computed from, of ``(N, H, W)`` uint8 images
        (the extractor ``set_real`` built, fed as torchmetrics feeds it), for
        ``intervals.Evidence`` (FID recomputed on resampled findings)."""
        if self._metric is None:
            raise ValueError("fid.features: call set_real(real) first (it builds the feature network)")
        images = _check(images, "fid.features")
        out = [self._metric.inception(chunk).double() for chunk in _rgb_chunks(images)]
        return torch.cat(out).reshape(len(images), -1).cpu().numpy()


def _rgb_chunks(images: np.ndarray, size: int = 64):
    """``(N, H, W)`` uint8 images as ``(size, 3, H, W)`` uint8 tensors, as torchmetrics' FID takes them."""
    for i in range(0, len(images), size):
        yield torch.from_numpy(images[i:i + size])[:, None].repeat(1, 3, 1, 1)


def _fid_update(metric, images: np.ndarray, real: bool) -> None:
    """Feed ``(N, H, W)`` uint8 images to torchmetrics' FID in chunks of 64."""
    for chunk in _rgb_chunks(images):
        metric.update(chunk, real=real)


# ---------------------------------------------------------------- CLIP score

@lru_cache(maxsize=2)
def _local_clip(model_dir: str):
    """torchmetrics ``CLIPScore`` of the CLIP model in ``model_dir``, built once per folder.

    The model and processor are loaded here as torchmetrics loads ``openai/...`` names
    (``CLIPModel`` / ``CLIPProcessor.from_pretrained``): torchmetrics itself refuses a local
    folder whose path does not contain "openai"."""
    from torchmetrics.multimodal.clip_score import CLIPScore
    from transformers import CLIPModel, CLIPProcessor

    path = Path(model_dir).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path / 'config.json'}: local CLIP model not found (transformers layout expected)")
    return CLIPScore(model_name_or_path=lambda: (CLIPModel.from_pretrained(str(path)), CLIPProcessor.from_pretrained(str(path))))


def clip_score_local(images: np.ndarray, prompts: Sequence[str], model_dir: str | Path, per_image: bool = False):
    """torchmetrics ``CLIPScore`` with a CLIP model from a local directory (e.g. ViT-B/16 in
    transformers layout): mean over the ``(N, H, W)`` uint8 images of ``100 * max(cos, 0)``
    with their prompts (``per_image``: the ``(N,)`` scores it averages, one update each). The
    model is loaded on the first call per directory and kept; nothing is downloaded."""
    metric = _local_clip(str(model_dir))
    x = torch.from_numpy(_check(images, "clip score"))[:, None].repeat(1, 3, 1, 1)
    scores = []
    for chunk, texts in ([(x[i:i + 1], [prompts[i]]) for i in range(len(x))] if per_image else [(x, list(prompts))]):
        metric.reset()
        metric.update(chunk, texts)
        scores.append(float(metric.compute()))
    return np.array(scores) if per_image else scores[0]


# ---------------------------------------------------------------- localisation

def box_masks(boxes: Sequence[Sequence[tuple[float, float, float, float]]], sizes: Sequence[tuple[int, int]],
              size: int) -> np.ndarray:
    """``(N, size, size)`` float32 masks: 1 inside each image's boxes ``(x1, y1, x2, y2)`` given in
    pixels of an image of ``sizes[i] = (width, height)``, else 0."""
    out = np.zeros((len(boxes), size, size), np.float32)
    for m, bs, (w, h) in zip(out, boxes, sizes):
        for x1, y1, x2, y2 in bs:
            m[int(y1 * size / h):int(np.ceil(y2 * size / h)), int(x1 * size / w):int(np.ceil(x2 * size / w))] = 1
    return out


def pointing_game(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image: 1 if the ``(N, S, S)`` heatmap's maximum lies inside the ``(N, S, S)`` mask,
    else 0; ``(N,)`` float32. The chance level of a random point is the mask's area fraction
    (``masks.mean((1, 2))``)."""
    flat = heatmaps.reshape(len(heatmaps), -1).argmax(1)
    return masks.reshape(len(masks), -1)[np.arange(len(masks)), flat].astype(np.float32)

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
    with warnings.catch_warnings():  # a prediction of a class the test set lacks is an error on its true
        # class, counted as such; scikit-learn also warns that the class has no recall of its own
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        out["bAcc"] = float(balanced_accuracy_score(y_true, y_pred))
    return out
