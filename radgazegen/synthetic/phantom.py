"""Synthetic chest-radiograph phantoms with known anatomy and findings.

A phantom is a PA chest radiograph drawn from geometry: lung fields with vascular markings
fanning from the hila, heart and mediastinum, trachea, aortic knob, diaphragm domes with
costophrenic angles, posterior and anterior ribs, clavicles, spine, soft tissue, exposure
fall-off and film grain, plus findings of the MIMIC-CXR-LT classes at known locations.
The image is made in "attenuation" units (air 0, aerated lung ~0.3, soft tissue ~1, bone
up to ~1.8) and mapped to grey levels at the end, so findings add or remove attenuation
the way real ones do (fluid and consolidation whiten a lung, free air darkens tissue).

Because the geometry is known, every phantom carries its ground truth: anatomy masks and
each finding's box and pixel mask. The study uses it to check the paper's claims (does
gaze carry the finding's location? does a generated finding appear where gaze put it?).

Conventions
-----------
- Images are ``(H, W)`` ``uint8`` arrays, radiograph display convention (MONOCHROME2):
  air is dark, soft tissue mid grey, bone bright.
- Coordinates are pixels of this image: ``x`` to the right, ``y`` down, boxes are
  ``(xmin, ymin, xmax, ymax)`` integers with ``xmax``/``ymax`` exclusive.
- Sides are the PATIENT's sides, as in radiology reports: in a PA view the patient's
  right lung is on the LEFT of the image.
- Rendering is a pure function of ``(labels, rng state, size)``: the same seed gives the
  same array. The anatomy is drawn from the rng before any finding, so the same seed gives
  the same anatomy whatever the findings.

Phantoms are not patients: shapes and intensities are plausible at a glance, nothing more.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from radgazegen.core.labels import MIMIC_LT_CLASSES, check_label
from radgazegen.synthetic.anatomy import Canvas, bbox, draw_anatomy, draw_markings
from radgazegen.synthetic.lesions import draw_finding

#: Sides a finding can be on (patient's side).
SIDES = ("right", "left", "bilateral", "midline")


@dataclass
class Finding:
    """One finding drawn in a phantom.

    label: MIMIC-CXR-LT class name.
    side: patient's side, one of ``SIDES``.
    zone: location words used in reports, e.g. "upper zone", "lower zone", "apex",
        "base", "costophrenic angle", "perihilar region", "cardiac silhouette",
        "mediastinum", "aortic knob", "chest wall", "hemidiaphragm", "rib".
    box: ``(xmin, ymin, xmax, ymax)`` in image pixels (exclusive max), the mask's bbox.
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
        "mediastinum", "aortic_knob" (EGD-CXR ships masks of these), "chest" (thorax),
        "diaphragm" (below the domes).
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
        return bbox(self.anatomy[name])



def render_phantom(
    labels: Sequence[str], rng: np.random.Generator, size: tuple[int, int] = (512, 512), lesion_scale: float = 1.0
) -> Phantom:
    """Render a PA chest radiograph phantom showing ``labels``.

    labels: MIMIC-CXR-LT class names (``No Finding`` or any subset of the others).
    rng: the only source of randomness; it is split into independent streams for the
        anatomy, the findings and the noise, so the anatomy of a seed does not depend on
        the findings asked for.
    size: ``(width, height)`` in pixels, each >= 64.
    lesion_scale: factor on the extent of the focal findings (``CohortConfig.lesion_scale``).
    Returns the ``(H, W)`` uint8 image with its anatomy masks and one ``Finding`` per
    abnormal label (Cardiomegaly and Enlarged Cardiomediastinum change the anatomy).
    """
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)):
        raise ValueError(f"size: expected (width, height) ints, got {size!r}")
    w, h = int(size[0]), int(size[1])
    if min(w, h) < 64:
        raise ValueError(f"size: width and height must be >= 64 pixels, got {size!r}")
    labels = list(labels)
    for lab in labels:
        check_label(lab, MIMIC_LT_CLASSES, "render_phantom(labels)")
    anatomy_rng, finding_rng, noise_rng = rng.spawn(3)
    c = Canvas(w, h)
    a = draw_anatomy(c, anatomy_rng, "Cardiomegaly" in labels, "Enlarged Cardiomediastinum" in labels)
    deltas, findings = [], []
    for lab in labels:
        if lab == "No Finding":
            continue
        delta, mask, side, zone = draw_finding(lab, a, finding_rng, lesion_scale)
        mask = mask & a.masks["chest"] if lab not in ("Support Devices",) else mask
        if not mask.any():
            raise AssertionError(f"render_phantom: finding {lab!r} has an empty mask")
        deltas.append(delta)
        findings.append(Finding(lab, side, zone, bbox(mask), mask))
    att = a.att + draw_markings(a, anatomy_rng)
    att = c.blur(att, h * 0.006)
    for d in deltas:
        att = att + d
    att = att + c.blur(a.bone, h * 0.0015)
    # exposure: denser centrally, soft noise, film grain
    att *= 1.0 + 0.06 * c.noise(noise_rng, h * 0.25)
    img = 255.0 * (1.0 - np.exp(-1.25 * np.clip(att, 0, None)))
    img = 0.92 * img + 8.0
    img += noise_rng.normal(0, 3.0, img.shape).astype(np.float32)
    img = c.blur(img, 0.6)
    return Phantom(np.clip(img, 0, 255).astype(np.uint8), a.masks, findings)
