"""Radiomics filter maps, the Rad-CN controls of §3.2.1 (paper Fig. 2A).

From the grayscale radiograph the paper computes three filter maps, as the authors' code
does (``../shared/notes/method.md``):

- **Canny** edges, hysteresis thresholds 40 / 50 (OpenCV ``cv2.Canny``);
- **Sobel** gradient magnitude ``hypot(sobel_x, sobel_y)`` scaled to 0..255 by its maximum
  (OpenCV ``cv2.Sobel``);
- **GL**, Gaussian-Laplace: the Laplacian of Gaussian with sigma = 1 px
  (SciPy ``ndimage.gaussian_laplace``), shown as its magnitude scaled to 0..255.

Every map is a ``(H, W)`` uint8 image in 0..255 at the control resolution (512x512 by
default: ControlNet conditioning images, divided by 255 into [0, 1] by the pipeline).
``radiomics_maps`` computes all three for a batch of radiographs.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import cv2
import numpy as np
from scipy import ndimage

from radgazegen.core.vocabulary import CANNY, GL, RADIOMICS_MAPS, SOBEL  # RADIOMICS_MAPS: the maps, in the tables' order


def _gray(image: np.ndarray, size: int | tuple[int, int] | None) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image: expected a (H, W) grayscale array, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image: expected uint8 (0..255), got {image.dtype}")
    if size is not None:
        w, h = (size, size) if isinstance(size, int) else size
        if image.shape != (h, w):
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return image


def canny(image: np.ndarray, low: float = 40, high: float = 50, size: int | tuple[int, int] | None = 512) -> np.ndarray:
    """Canny edge map: ``(H, W)`` uint8, 255 on edges, 0 elsewhere.

    image: ``(H, W)`` uint8 radiograph; low / high: hysteresis thresholds on the gradient
    (authors 40 / 50); size: output side (int) or (width, height), None = input size.
    """
    return cv2.Canny(_gray(image, size), float(low), float(high))


def sobel(image: np.ndarray, size: int | tuple[int, int] | None = 512) -> np.ndarray:
    """Sobel gradient magnitude scaled to 0..255 by its maximum: ``(H, W)`` uint8."""
    g = _gray(image, size).astype(np.float32)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    peak = float(mag.max())
    return np.zeros(g.shape, np.uint8) if peak == 0 else np.round(mag * (255.0 / peak)).astype(np.uint8)


def gaussian_laplace(image: np.ndarray, sigma: float = 1.0, size: int | tuple[int, int] | None = 512) -> np.ndarray:
    """GL map: magnitude of the Laplacian of Gaussian (sigma in pixels), scaled to 0..255."""
    if sigma <= 0:
        raise ValueError(f"sigma: expected > 0 pixels, got {sigma}")
    log = np.abs(ndimage.gaussian_laplace(_gray(image, size).astype(np.float32), sigma=float(sigma)))
    peak = float(log.max())
    return np.zeros(log.shape, np.uint8) if peak == 0 else np.round(log * (255.0 / peak)).astype(np.uint8)


def radiomics_maps(images: Iterable[np.ndarray] | np.ndarray, maps: Sequence[str] = RADIOMICS_MAPS,
                   canny_low: float = 40, canny_high: float = 50, gl_sigma: float = 1.0,
                   size: int | tuple[int, int] | None = 512) -> dict[str, np.ndarray]:
    """The radiomics maps of a batch: name -> ``(N, H, W)`` uint8 array in 0..255.

    images: ``(N, H0, W0)`` uint8 array or an iterable of ``(H0, W0)`` uint8 radiographs.
    maps: which of ``RADIOMICS_MAPS`` to compute.
    """
    unknown = [m for m in maps if m not in RADIOMICS_MAPS]
    if unknown:
        raise ValueError(f"maps: unknown map(s) {unknown}; expected some of {RADIOMICS_MAPS}")
    fns = {CANNY: lambda im: canny(im, canny_low, canny_high, size),
           SOBEL: lambda im: sobel(im, size),
           GL: lambda im: gaussian_laplace(im, gl_sigma, size)}
    out: dict[str, list[np.ndarray]] = {m: [] for m in maps}
    for im in images:
        g = _gray(im, size)
        for m in maps:
            out[m].append(fns[m](g))
    return {m: np.stack(v) if v else np.zeros((0, 0, 0), np.uint8) for m, v in out.items()}
