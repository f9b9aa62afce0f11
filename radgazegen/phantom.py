"""Synthetic chest-radiograph phantoms with known anatomy and findings.

A phantom is a PA chest radiograph drawn from geometry: lung fields, heart and
mediastinum, diaphragm domes, ribs, clavicles, spine, soft tissue and film noise, plus
findings of the MIMIC-CXR-LT classes at known locations. Because the geometry is known,
every phantom comes with its ground truth: the lung masks and each finding's box, ellipse
and pixel mask. The study uses this ground truth to check the paper's claims (does gaze
carry the finding's location? does the generated finding appear where the gaze put it?).

Conventions
-----------
- Images are ``(H, W)`` ``uint8`` arrays, radiograph display convention (MONOCHROME2):
  air is dark (~0-40), soft tissue mid grey, bone bright (up to 255).
- Coordinates are pixels of this image: ``x`` to the right, ``y`` down, boxes are
  ``(xmin, ymin, xmax, ymax)`` integers with ``xmax``/``ymax`` exclusive.
- Sides are the PATIENT's sides, as in radiology reports: in a PA view the patient's
  right lung is on the LEFT of the image.
- Rendering is a pure function of ``(labels, rng state, size)``: the same seed gives the
  same array.

STUB: a first geometric version that fixes the interface; the full renderer replaces it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from radgazegen.labels import MIMIC_LT_CLASSES, check_label

#: Sides a finding can be on (patient's side).
SIDES = ("right", "left", "bilateral", "midline")


@dataclass
class Finding:
    """One finding drawn in a phantom.

    label: MIMIC-CXR-LT class name.
    side: patient's side, one of ``SIDES``.
    zone: location word used in reports, e.g. "upper zone", "lower zone", "apex",
        "base", "costophrenic angle", "perihilar", "cardiac silhouette", "mediastinum",
        "aortic knob", "chest wall", "subdiaphragmatic", "rib".
    box: ``(xmin, ymin, xmax, ymax)`` in image pixels (exclusive max).
    mask: ``(H, W)`` bool, the pixels the finding changed (its extent).
    """

    label: str
    side: str
    zone: str
    box: tuple[int, int, int, int]
    mask: np.ndarray = field(repr=False)

    @property
    def ellipse(self) -> tuple[float, float, float, float]:
        """The ellipse inscribed in ``box``: ``(cx, cy, rx, ry)`` in pixels."""
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2)


@dataclass
class Phantom:
    """A rendered phantom and its ground truth.

    image: ``(H, W)`` uint8 radiograph.
    anatomy: name -> ``(H, W)`` bool mask; keys "right_lung", "left_lung", "heart",
        "mediastinum", "aortic_knob" (EGD-CXR ships masks of these), "chest" (thorax).
    findings: the findings drawn, in the order of ``labels`` ("No Finding" draws none).
    """

    image: np.ndarray
    anatomy: dict[str, np.ndarray]
    findings: list[Finding]

    @property
    def lung_mask(self) -> np.ndarray:
        """``(H, W)`` uint8: 0 background, 1 patient's right lung, 2 patient's left lung."""
        m = np.zeros(self.image.shape, np.uint8)
        m[self.anatomy["right_lung"]] = 1
        m[self.anatomy["left_lung"]] = 2
        return m

    def box(self, name: str) -> tuple[int, int, int, int]:
        """Bounding box ``(xmin, ymin, xmax, ymax)`` of an anatomy mask."""
        ys, xs = np.nonzero(self.anatomy[name])
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _ellipse_mask(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def render_phantom(
    labels: Sequence[str], rng: np.random.Generator, size: tuple[int, int] = (512, 512)
) -> Phantom:
    """Render a PA chest radiograph phantom showing ``labels``.

    labels: MIMIC-CXR-LT class names (``No Finding`` or any subset of the others).
    rng: the only source of randomness (anatomy variation, finding placement, noise).
    size: ``(width, height)`` in pixels.
    Returns the image with its anatomy masks and one ``Finding`` per abnormal label.
    """
    w, h = size
    for lab in labels:
        check_label(lab, MIMIC_LT_CLASSES, "render_phantom(labels)")
    img = np.full((h, w), 30.0)
    chest = _ellipse_mask(h, w, w / 2, h * 0.55, w * 0.42, h * 0.45)
    img[chest] = 120
    rl = _ellipse_mask(h, w, w * 0.32, h * 0.5, w * 0.13, h * 0.3)
    ll = _ellipse_mask(h, w, w * 0.68, h * 0.5, w * 0.13, h * 0.3)
    img[rl | ll] = 60
    heart = _ellipse_mask(h, w, w * 0.55, h * 0.65, w * 0.14, h * 0.12)
    img[heart] = 150
    med = np.zeros((h, w), bool)
    med[int(h * 0.15): int(h * 0.55), int(w * 0.45): int(w * 0.55)] = True
    knob = _ellipse_mask(h, w, w * 0.56, h * 0.3, w * 0.03, h * 0.03)
    findings = []
    for lab in labels:
        if lab == "No Finding":
            continue
        side = str(rng.choice(["right", "left"]))
        cx = w * (0.32 if side == "right" else 0.68) + rng.uniform(-0.04, 0.04) * w
        cy = h * rng.uniform(0.35, 0.65)
        rx, ry = w * 0.06, h * 0.06
        m = _ellipse_mask(h, w, cx, cy, rx, ry)
        img[m] += 60
        ys, xs = np.nonzero(m)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        findings.append(Finding(lab, side, "lower zone" if cy > h / 2 else "upper zone", box, m))
    img += rng.normal(0, 4, img.shape)
    anatomy = {"right_lung": rl, "left_lung": ll, "heart": heart, "mediastinum": med,
               "aortic_knob": knob, "chest": chest}
    return Phantom(np.clip(img, 0, 255).astype(np.uint8), anatomy, findings)
