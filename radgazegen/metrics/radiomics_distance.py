"""A Fréchet Radiomics Distance (FRD) of generated against real images, overall and as evidence
for intervals (chapter 08; ``fidelity`` holds KID, PRDC and the Fréchet distance it uses).

A Fréchet Radiomics Distance: the Fréchet distance (torchmetrics'
``FrechetInceptionDistance`` with an identity extractor) between radiomics features of real
and generated images, z-scored by the real set (as FRD v1, Konz et al. 2025). pyradiomics
cannot be installed from this machine's package index (3.1.0 is a source release whose build
fails: its build needs numpy and versioneer it does not declare), so the features are the
study's own radiomics maps' statistics (``radiomics_features``): mean, standard deviation,
skewness, kurtosis and entropy of the image and of its Canny, Sobel and LoG maps
(``radgazegen.controls``, the Rad-CN controls), and with lung masks the same inside the mask
plus the mask's area. The metric's name says so: ``FRD (radiomics-map statistics)``, not
pyradiomics' FRD.
"""
from __future__ import annotations

import numpy as np

from radgazegen.core.intervals import Evidence
from radgazegen.metrics.fidelity import Score, frechet_distance_of, standardise

#: The images a radiomics feature is computed on (the image, then the Rad-CN maps) and the
#: statistics of each (``radiomics_features``).
RADIOMICS_SOURCES = ("image", "canny", "sobel", "gl")
RADIOMICS_STATISTICS = ("mean", "std", "skewness", "kurtosis", "entropy")
#: Bins of the 0..255 histogram whose Shannon entropy (bits) is the ``entropy`` statistic.
ENTROPY_BINS = 32
FRD_FEATURES = "radiomics-map statistics"


def _statistics(values: np.ndarray) -> list[float]:
    """mean, std, skewness, excess kurtosis (standardised moments; 0 and 0 for a constant map)
    and histogram entropy in bits of ``values`` in 0..255."""
    if not values.size:
        return [0.0] * len(RADIOMICS_STATISTICS)
    v = values.astype(np.float64)
    mean, std = float(v.mean()), float(v.std())
    if std > 0:
        z = (v - mean) / std
        skew, kurt = float((z ** 3).mean()), float((z ** 4).mean() - 3.0)
    else:
        skew = kurt = 0.0
    counts = np.histogram(v, bins=ENTROPY_BINS, range=(0.0, 256.0))[0]
    p = counts[counts > 0] / v.size
    return [mean, std, skew, kurt, float(-(p * np.log2(p)).sum())]


def radiomics_features(images: np.ndarray, lung_masks: np.ndarray | None = None,
                       size: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Per image, the statistics ``RADIOMICS_STATISTICS`` of the image and of its Canny, Sobel
    and LoG maps (``radgazegen.controls`` with the controls' parameters), computed on the whole
    image; with ``lung_masks`` also inside the mask (pyradiomics' region-of-interest
    convention) and the mask's area fraction.

    images: ``(N, H, W)`` uint8; lung_masks: ``(N, H, W)``, > 0 inside (the same segmenter for
    real and generated images, or the distance measures the segmenters); size: resample both
    to ``size`` x ``size`` first (area interpolation), so real and generated sets of different
    sizes are measured alike. Returns ``(N, D)`` float64 (D = 20, or 41 with masks) and the
    ``D`` feature names (``"sobel.entropy"``, ``"lung.gl.std"``, ``"lung.area"``)."""
    import cv2

    from radgazegen import controls

    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"radiomics_features: expected (N, H, W) uint8 images, got {images.dtype} {images.shape}")
    if lung_masks is not None and np.shape(lung_masks) != images.shape:
        raise ValueError(f"radiomics_features: lung masks {np.shape(lung_masks)} differ from the images {images.shape}")
    names = [f"{s}.{t}" for s in RADIOMICS_SOURCES for t in RADIOMICS_STATISTICS]
    if lung_masks is not None:
        names += [f"lung.{n}" for n in names] + ["lung.area"]
    rows = []
    for i, image in enumerate(images):
        mask = None if lung_masks is None else np.asarray(lung_masks[i]) > 0
        if size is not None and image.shape != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            if mask is not None:
                mask = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
        maps = [image, controls.canny(image, size=None), controls.sobel(image, size=None),
                controls.gaussian_laplace(image, size=None)]
        row = [s for m in maps for s in _statistics(m)]
        if mask is not None:
            row += [s for m in maps for s in _statistics(m[mask])] + [float(mask.mean())]
        rows.append(row)
    return np.asarray(rows, np.float64).reshape(len(images), len(names)), names


def frechet_radiomics_distance(real_images: np.ndarray, generated_images: np.ndarray,
                               real_masks: np.ndarray | None = None, generated_masks: np.ndarray | None = None,
                               size: int | None = None) -> Score:
    """FRD of ``(N_gen, H, W)`` uint8 generated against ``(N_real, H', W')`` uint8 real images:
    ``radiomics_features`` of both (with lung masks when both are given; at ``size`` when the
    sets differ in size), z-scored by the real set, then the Fréchet distance. Named
    ``"FRD (radiomics-map statistics)"`` (``"... + lung mask"`` with masks): the study's maps'
    statistics, not pyradiomics (module docstring). Lower is better; 0 for identical sets."""
    if (real_masks is None) != (generated_masks is None):
        raise ValueError("frechet_radiomics_distance: give lung masks for both sets or for neither")
    if size is None and np.shape(real_images)[1:] != np.shape(generated_images)[1:]:
        raise ValueError(f"frechet_radiomics_distance: image sizes differ ({np.shape(real_images)[1:]} vs "
                         f"{np.shape(generated_images)[1:]}); give size=")
    real, _ = radiomics_features(real_images, real_masks, size)
    generated, _ = radiomics_features(generated_images, generated_masks, size)
    real, generated = standardise(real, generated)
    return frechet_distance_of(real, generated, "FRD", FRD_FEATURES + (" + lung mask" if real_masks is not None else ""))


def radiomics_evidence(real_images: np.ndarray, generated_images: np.ndarray, real_masks: np.ndarray | None = None,
                       generated_masks: np.ndarray | None = None, size: int | None = None) -> Evidence:
    """FRD of one cell as ``Evidence(kind="fid")``: ``real_images`` ``(N, H, W)`` uint8, the
    generated ``(R, N, H, W)`` (masks alike, or None), through ``radiomics_features`` z-scored by
    the real set (``frechet_radiomics_distance``; intervals.frechet_distance recomputes it on
    resampled findings)."""
    generated_images = np.asarray(generated_images)
    if generated_images.ndim != 4 or len(generated_images[0]) != len(real_images):
        raise ValueError(f"radiomics_evidence: generated images must be (R, N, H, W) with N = {len(real_images)}, "
                         f"got {generated_images.shape}")
    real, _ = radiomics_features(real_images, real_masks, size)
    generated = [radiomics_features(g, None if generated_masks is None else generated_masks[r], size)[0]
                 for r, g in enumerate(generated_images)]
    real, generated = standardise(real, np.stack(generated))
    return Evidence("fid", "lower", features=generated, real=real)
