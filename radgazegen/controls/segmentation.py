"""Lung masks, the segmentation control of Rad-CN (§3.2.1, §4.1).

Three methods, chosen by what the user has:

- ``LungUNet``: the lung U-Net of the paper's reference [70] (VGG11 encoder, 512x512,
  1 channel in, 2 classes out). The architecture is defined here; its weights
  (``unet-6v.pt`` in that project's repository) are read from a local path, never
  downloaded. Attribute names follow that weight file's keys so it loads as published.
- TorchXRayVision's PSPNet (``xrv.baseline_models.chestx_det.PSPNet``): channels 4 and 5
  are the left and right lung; its weights file must already be in ``cache_dir``.
- ``classical_lung_mask``: no weights. The aerated lungs are the darkest large regions
  inside the body: Otsu's threshold within the body, morphological clean-up, the two
  largest components kept (scikit-image).

Every method returns a ``(H, W)`` uint8 mask: 0 background, 1 the patient's right lung
(image left in a PA view), 2 the patient's left lung.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import filters, measure, morphology
from torch import nn
from torch.nn import functional as F

UNET_WEIGHTS_NAME = "unet-6v.pt"
PSPNET_WEIGHTS_NAME = "pspnet_chestxray_best_model_4.pth"
PSPNET_LEFT_LUNG, PSPNET_RIGHT_LUNG = 4, 5


# ------------------------------------------------------------------------------ masks
def split_lungs(lungs: np.ndarray) -> np.ndarray:
    """Label a binary lung mask: the two largest components, 1 = image-left (patient's right),
    2 = image-right (patient's left). A single component is split at the image's midline."""
    lungs = np.asarray(lungs, bool)
    out = np.zeros(lungs.shape, np.uint8)
    labelled = measure.label(lungs, connectivity=1)
    regions = sorted(measure.regionprops(labelled), key=lambda r: r.area, reverse=True)[:2]
    if len(regions) == 2:
        a, b = sorted(regions, key=lambda r: r.centroid[1])
        out[labelled == a.label], out[labelled == b.label] = 1, 2
    elif len(regions) == 1:
        half = lungs.shape[1] // 2
        region = labelled == regions[0].label
        out[:, :half][region[:, :half]] = 1
        out[:, half:][region[:, half:]] = 2
    return out


def _morph(mask: np.ndarray, op: int, radius: int) -> np.ndarray:
    """Binary opening / closing with a disk of ``radius`` pixels (OpenCV, elliptic element)."""
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.morphologyEx(mask.astype(np.uint8), op, disk).astype(bool)


def classical_lung_mask(image: np.ndarray) -> np.ndarray:
    """Lung mask without weights: ``(H, W)`` uint8 in {0, 1, 2} from a ``(H, W)`` uint8 radiograph."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"image: expected a (H, W) uint8 radiograph, got {image.dtype} {image.shape}")
    h, w = image.shape
    smooth = filters.gaussian(image, sigma=max(1.0, h / 256), preserve_range=True)
    body = smooth > filters.threshold_otsu(smooth) * 0.5
    body = morphology.remove_small_holes(body, max_size=h * w // 4)
    inside = smooth[body]
    if inside.size == 0:
        return np.zeros((h, w), np.uint8)
    dark = body & (smooth < filters.threshold_otsu(inside))
    dark = _morph(dark, cv2.MORPH_OPEN, max(1, h // 100))
    cleared = measure.label(dark)
    border = set(np.unique(np.concatenate([cleared[0], cleared[-1], cleared[:, 0], cleared[:, -1]])))
    dark &= ~np.isin(cleared, list(border - {0}))
    dark = morphology.remove_small_holes(dark, max_size=h * w // 50)
    dark = _morph(dark, cv2.MORPH_CLOSE, max(1, h // 64))
    return split_lungs(dark)


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice overlap of two binary masks (any non-zero = lung); 1.0 when both are empty."""
    p, t = np.asarray(pred) > 0, np.asarray(truth) > 0
    denom = p.sum() + t.sum()
    return 1.0 if denom == 0 else float(2 * (p & t).sum() / denom)


# ------------------------------------------------------------------------------ U-Net [70]
class _DoubleConv(nn.Module):
    """conv3x3 -> (BN) -> ReLU, twice (the decoder block)."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, batch_norm: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_mid, 3, padding=1)
        self.conv2 = nn.Conv2d(c_mid, c_out, 3, padding=1)
        self.batch_norm = batch_norm
        if batch_norm:
            self.bn1, self.bn2 = nn.BatchNorm2d(c_mid), nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = F.relu(self.bn1(x) if self.batch_norm else x)
        x = self.conv2(x)
        return F.relu(self.bn2(x) if self.batch_norm else x)


class LungUNet(nn.Module):
    """VGG11-encoder U-Net for lung segmentation (paper ref. [70]).

    Input ``(N, 1, H, W)`` float in [0, 1] (H, W divisible by 32; 512 in [70]); output
    ``(N, 2, H, W)`` logits, class 1 = lung. The encoder is torchvision's VGG11 feature
    stack (random init here; the published weights replace it).
    """

    #: indices of the convolutions in ``torchvision.models.vgg11().features``
    _VGG11_CONVS = {"conv1": 0, "conv2": 3, "conv3": 6, "conv3s": 8, "conv4": 11, "conv4s": 13,
                    "conv5": 16, "conv5s": 18}

    def __init__(self, in_channels: int = 1, out_channels: int = 2, batch_norm: bool = True,
                 upscale_mode: str = "bilinear"):
        super().__init__()
        from torchvision.models import vgg11

        self.upscale_mode = upscale_mode
        self.init_conv = nn.Conv2d(in_channels, 3, 1)
        features = vgg11(weights=None).features
        for name, index in self._VGG11_CONVS.items():
            setattr(self, name, features[index])
        self.center = _DoubleConv(512, 512, 256, batch_norm)
        self.dec5 = _DoubleConv(512 + 256, 512, 256, batch_norm)
        self.dec4 = _DoubleConv(512 + 256, 512, 128, batch_norm)
        self.dec3 = _DoubleConv(256 + 128, 256, 64, batch_norm)
        self.dec2 = _DoubleConv(128 + 64, 128, 32, batch_norm)
        self.dec1 = _DoubleConv(64 + 32, 64, 32, batch_norm)
        self.out = nn.Conv2d(32, out_channels, 1)

    def _up_cat(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.interpolate(x, size=skip.shape[-2:], mode=self.upscale_mode), skip], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = lambda t: F.max_pool2d(t, 2)  # noqa: E731
        x = F.relu(self.init_conv(x))
        e1 = F.relu(self.conv1(x))
        e2 = F.relu(self.conv2(pool(e1)))
        e3 = F.relu(self.conv3s(F.relu(self.conv3(pool(e2)))))
        e4 = F.relu(self.conv4s(F.relu(self.conv4(pool(e3)))))
        e5 = F.relu(self.conv5s(F.relu(self.conv5(pool(e4)))))
        c = self.center(pool(e5))
        d5 = self.dec5(self._up_cat(c, e5))
        d4 = self.dec4(self._up_cat(d5, e4))
        d3 = self.dec3(self._up_cat(d4, e3))
        d2 = self.dec2(self._up_cat(d3, e2))
        d1 = self.dec1(self._up_cat(d2, e1))
        return self.out(d1)


def load_lung_unet(weights: str | Path) -> LungUNet:
    """``LungUNet`` with weights from a local file (``unet-6v.pt`` of [70]); eval mode, CPU.

    The file is read with ``torch.load(weights_only=True)``: tensors only, no code runs.
    """
    path = Path(weights)
    if path.is_dir():
        path = path / UNET_WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: lung U-Net weights not found (expected the file {UNET_WEIGHTS_NAME} "
                                "of the paper's reference [70], a state dict of LungUNet)")
    model = LungUNet()
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: not LungUNet weights (missing keys {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()


@torch.no_grad()
def unet_lung_mask(model: LungUNet, image: np.ndarray, size: int = 512) -> np.ndarray:
    """Lung mask of a ``(H, W)`` uint8 radiograph with ``LungUNet``: ``(H, W)`` uint8 in {0, 1, 2}."""
    h, w = image.shape
    x = torch.from_numpy(image).float().div(255)[None, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    lungs = model(x).argmax(1, keepdim=True).float()
    lungs = F.interpolate(lungs, size=(h, w), mode="nearest")[0, 0].numpy() > 0
    return split_lungs(lungs)


@lru_cache(maxsize=2)
def _pspnet(cache_dir: str):
    """TorchXRayVision's PSPNet from ``cache_dir``, built once per folder."""
    path = Path(cache_dir).expanduser() / PSPNET_WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: TorchXRayVision PSPNet weights not found (expected {PSPNET_WEIGHTS_NAME} "
                                "in cache_dir; they are not downloaded)")
    import torchxrayvision as xrv

    return xrv.baseline_models.chestx_det.PSPNet(cache_dir=str(cache_dir)).eval()


def pspnet_lung_mask(image: np.ndarray, cache_dir: str | Path) -> np.ndarray:
    """Lung mask with TorchXRayVision's PSPNet; its weights must be in ``cache_dir`` (no download)."""
    import torchxrayvision as xrv

    model = _pspnet(str(cache_dir))
    h, w = image.shape
    x = torch.from_numpy(xrv.datasets.normalize(image.astype(np.float32), 255))[None, None]
    with torch.no_grad():
        out = model(F.interpolate(x, size=(512, 512), mode="bilinear", align_corners=False))
    out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)[0]
    mask = np.zeros((h, w), np.uint8)
    mask[(out[PSPNET_RIGHT_LUNG] > 0).numpy()] = 1   # patient's right lung, image left
    mask[(out[PSPNET_LEFT_LUNG] > 0).numpy()] = 2
    return mask


def lung_segmenter(lung_unet_weights: str | Path = "", pspnet_cache_dir: str | Path = ""):
    """The segmenter that makes Rad-CN's segmentation control: ``(name, fn)``, fn ``(H, W)`` uint8
    radiograph -> ``(H, W)`` uint8 mask in {0, 1, 2}.

    The paper's is the lung U-Net of ref. [70] (``lung_unet_weights``); TorchXRayVision's
    PSPNet (``pspnet_cache_dir``) is the next choice; without weights, the weight-free
    ``classical_lung_mask``, named as the stand-in it is.
    """
    if lung_unet_weights:
        model = load_lung_unet(lung_unet_weights)
        return "lung U-Net of ref. [70]", lambda im: unet_lung_mask(model, im)
    if pspnet_cache_dir:
        _pspnet(str(pspnet_cache_dir))  # fail now, naming the missing file, not at the first image
        return "TorchXRayVision PSPNet", lambda im: pspnet_lung_mask(im, pspnet_cache_dir)
    return "weight-free stand-in (Otsu + morphology; no segmentation weights given)", classical_lung_mask
