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

import cv2
import numpy as np

from radgazegen.labels import MIMIC_LT_CLASSES, check_label

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
        return _bbox(self.anatomy[name])


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


class _Canvas:
    """Drawing helpers in normalised coordinates (0..1 of width / height)."""

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.yy, self.xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.xn, self.yn = self.xx / w, self.yy / h

    def pts(self, xy) -> np.ndarray:
        xy = np.asarray(xy, np.float64)
        return np.round(np.column_stack([xy[:, 0] * self.w, xy[:, 1] * self.h])).astype(np.int32)

    def ellipse(self, cx, cy, rx, ry) -> np.ndarray:
        return ((self.xn - cx) / rx) ** 2 + ((self.yn - cy) / ry) ** 2 <= 1.0

    def gauss(self, cx, cy, sx, sy) -> np.ndarray:
        return np.exp(-0.5 * (((self.xn - cx) / sx) ** 2 + ((self.yn - cy) / sy) ** 2)).astype(np.float32)

    def polyline(self, xy, thickness_px: float, closed: bool = False) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        cv2.polylines(m, [self.pts(xy)], closed, 1, max(1, int(round(thickness_px))), cv2.LINE_AA)
        return m.astype(bool)

    def draw(self, canvas: np.ndarray, xy, thickness_px: float, value: float) -> None:
        """Draw a polyline of ``value`` into the float32 ``canvas`` in place (no allocation)."""
        cv2.polylines(canvas, [self.pts(xy)], False, float(value), max(1, int(round(thickness_px))), cv2.LINE_8)

    def blur(self, a: np.ndarray, sigma_px: float) -> np.ndarray:
        return cv2.GaussianBlur(a.astype(np.float32), (0, 0), max(0.3, sigma_px))

    def noise(self, rng: np.random.Generator, scale_px: float) -> np.ndarray:
        """Smooth random field in [-1, 1] with features about ``scale_px`` wide."""
        gh, gw = max(2, int(self.h / scale_px)), max(2, int(self.w / scale_px))
        small = rng.standard_normal((gh, gw)).astype(np.float32)
        return np.clip(cv2.resize(small, (self.w, self.h), interpolation=cv2.INTER_CUBIC) / 2.0, -1, 1)


@dataclass
class _Anatomy:
    c: _Canvas
    att: np.ndarray            # attenuation map being built
    bone: np.ndarray           # bone attenuation (ribs, clavicles, spine)
    masks: dict
    geo: dict                  # geometry numbers used by findings
    markings_off: np.ndarray   # where lung markings must not be drawn (pneumothorax)


def _anatomy(c: _Canvas, rng: np.random.Generator, cardiomegaly: bool, wide_mediastinum: bool) -> _Anatomy:
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    mid = 0.5 + u(-0.015, 0.015)
    chest_top, chest_bot = u(0.06, 0.10), u(0.95, 1.02)
    half = u(0.40, 0.45)
    body = c.ellipse(mid, 0.60, half + 0.05, 0.62)
    chest = c.ellipse(mid, 0.55, half, (chest_bot - chest_top) / 2 + 0.05) & (c.yn > chest_top)
    # lungs: a rounded upper ellipse cut by the diaphragm dome and the mediastinum
    apex = u(0.10, 0.14)
    r_dome, l_dome = u(0.66, 0.72), 0.0
    l_dome = r_dome + u(0.02, 0.05)  # the right hemidiaphragm sits higher
    lung_w = u(0.17, 0.20)
    geo = {"mid": mid, "apex": apex, "r_dome": r_dome, "l_dome": l_dome, "lung_w": lung_w}
    lungs = {}
    for side, sign, dome in (("right", -1, r_dome), ("left", 1, l_dome)):
        cx = mid + sign * (0.06 + lung_w)
        cy = (apex + dome + 0.12) / 2
        ry = (dome + 0.12 - apex) / 2
        ell = c.ellipse(cx, cy, lung_w + 0.03, ry)
        r2 = (1 - ((c.xn - cx) / (lung_w + 0.03)) ** 2).clip(0, 1)
        dome_curve = dome + 0.10 - 0.10 * r2 ** 0.7 - 0.05 * r2  # dome top at `dome`, lower laterally
        below = c.yn < dome_curve
        medial = (c.xn - mid) * sign > 0.045 + 0.01 * np.sin(c.yn * 9)
        lungs[side] = ell & below & medial
        geo[f"{side}_cx"] = cx
        geo[f"{side}_dome_curve"] = dome_curve
    # heart: bulges to the patient's left (image right)
    hs = u(1.0, 1.1) * (1.35 if cardiomegaly else 1.0)
    hcx, hcy = mid + 0.06 * hs, (r_dome + l_dome) / 2 - 0.05
    heart = c.ellipse(hcx, hcy, 0.15 * hs, 0.11 * min(hs, 1.25)) & (c.yn < geo["left_dome_curve"] + 0.03)
    mw = 0.05 * (1.8 if wide_mediastinum else 1.0)
    mediastinum = (np.abs(c.xn - mid) < mw) & (c.yn > chest_top) & (c.yn < hcy)
    knob = c.ellipse(mid + mw + 0.015, apex + 0.17, 0.032, 0.028)
    geo.update(hcx=hcx, hcy=hcy, hs=hs, mw=mw, knob=(mid + mw + 0.015, apex + 0.17))
    inner = c.ellipse(mid, 0.55, half - 0.025, (chest_bot - chest_top) / 2 + 0.03)
    for side in lungs:
        lungs[side] &= ~heart & ~mediastinum & ~knob & inner
    diaphragm = chest & ~lungs["right"] & ~lungs["left"] & (c.yn > np.minimum(geo["right_dome_curve"], geo["left_dome_curve"]) - 0.05) & (c.yn > hcy)
    # attenuation
    att = np.where(body, 0.75, 0.0).astype(np.float32)
    att += 0.25 * chest
    att[lungs["right"] | lungs["left"]] = 0.28
    att += 0.32 * (heart | mediastinum | knob)
    att += 0.15 * diaphragm
    trachea = (np.abs(c.xn - mid) < 0.012) & (c.yn > chest_top - 0.05) & (c.yn < apex + 0.22)
    att[trachea] -= 0.35
    # gastric bubble under the left dome
    att -= 0.35 * (c.ellipse(mid + 0.16, l_dome + 0.14, 0.05, 0.025) & body)
    # bones
    bone = np.zeros_like(att)
    spine = np.abs(c.xn - mid) < 0.035
    for k in range(16):
        y0 = chest_top - 0.05 + k * 0.065
        bone += 0.18 * (spine & (c.yn > y0) & (c.yn < y0 + 0.055))
    thick = c.h * 0.016
    posterior = np.zeros_like(att)
    cortex = np.zeros_like(att)
    anterior = np.zeros_like(att)
    t = np.linspace(0, 1, 24)
    for k in range(10):  # posterior ribs: from the spine, laterally, then curving down
        y = apex - 0.05 + k * u(0.056, 0.062)
        for sign in (-1, 1):
            xs = mid + sign * (0.04 + (half - 0.02) * np.sin(t * np.pi / 2) ** 0.8)
            ys = y + 0.02 - 0.035 * t + 0.16 * t ** 2.0
            c.draw(posterior, np.column_stack([xs, ys]), thick, 0.22)
            c.draw(cortex, np.column_stack([xs, ys + 0.009]), max(1, thick / 4), 0.12)
        for sign in (-1, 1):  # anterior ribs, fainter, running medially downward
            xs = mid + sign * (half - 0.04 - 0.25 * t[:16] / t[15])
            ys = y + 0.03 + 0.07 * t[:16] / t[15]
            c.draw(anterior, np.column_stack([xs, ys]), thick * 0.8, 0.08)
    clavicles = np.zeros_like(att)
    tc = np.linspace(0, 1, 20)
    for sign in (-1, 1):
        xs = mid + sign * (0.05 + 0.27 * tc)
        ys = apex + 0.06 - 0.045 * tc + 0.015 * np.sin(tc * np.pi * 2)
        c.draw(clavicles, np.column_stack([xs, ys]), c.h * 0.022, 0.35)
    bone += posterior + cortex + anterior + clavicles
    bone *= body
    masks = {"right_lung": lungs["right"], "left_lung": lungs["left"], "heart": heart,
             "mediastinum": mediastinum, "aortic_knob": knob, "chest": chest, "diaphragm": diaphragm}
    return _Anatomy(c, att, bone, masks, geo, np.zeros_like(chest))


def _markings(a: _Anatomy, rng: np.random.Generator) -> np.ndarray:
    """Vascular / bronchial markings fanning from the hila, tapering towards the periphery."""
    c, g = a.c, a.geo
    m = np.zeros((c.h, c.w), np.float32)
    t = np.linspace(0, 1, 12)
    for side, sign in (("right", -1), ("left", 1)):
        hx, hy = g["mid"] + sign * 0.1, g["apex"] + 0.36
        for _ in range(16):
            ang = rng.uniform(-0.6 * np.pi, 0.6 * np.pi) + (np.pi if sign < 0 else 0.0)
            length = rng.uniform(0.12, 0.3)
            bend = rng.uniform(-0.05, 0.05)
            pts = c.pts(np.column_stack([hx + np.cos(ang) * length * t + bend * t ** 2,
                                         hy + np.sin(ang) * length * t * 1.2 + 0.04 * t]))
            for k in range(len(t) - 1):
                cv2.line(m, tuple(map(int, pts[k])), tuple(map(int, pts[k + 1])), 0.09 * (1 - t[k]),
                         max(1, int(round(c.h * 0.007 * (1 - t[k])))))
    lungs = a.masks["right_lung"] | a.masks["left_lung"]
    return c.blur(m, c.h * 0.002) * lungs * ~a.markings_off


def _finding(label: str, a: _Anatomy, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Draw one finding: returns (attenuation delta, extent mask, side, zone)."""
    c, g = a.c, a.geo
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    side = str(rng.choice(["right", "left"]))
    sign = -1 if side == "right" else 1
    lung = a.masks[f"{side}_lung"]
    lx0, ly0, lx1, ly1 = _bbox(lung)
    lx0, lx1, ly0, ly1 = lx0 / c.w, lx1 / c.w, ly0 / c.h, ly1 / c.h
    delta = np.zeros((c.h, c.w), np.float32)

    def lung_point(zone: str) -> tuple[float, float]:
        fy = {"upper zone": (0.15, 0.35), "middle zone": (0.4, 0.55), "lower zone": (0.6, 0.78)}[zone]
        for _ in range(50):
            x, y = u(lx0 + 0.2 * (lx1 - lx0), lx1 - 0.2 * (lx1 - lx0)), u(ly0 + fy[0] * (ly1 - ly0), ly0 + fy[1] * (ly1 - ly0))
            if lung[min(c.h - 1, int(y * c.h)), min(c.w - 1, int(x * c.w))]:
                return x, y
        return (lx0 + lx1) / 2, (ly0 + ly1) / 2

    if label in ("Lung Opacity", "Consolidation", "Lung Lesion", "Pneumonia"):
        zone = str(rng.choice(["upper zone", "middle zone", "lower zone"])) if label != "Pneumonia" else "lower zone"
        x, y = lung_point(zone)
        if label == "Lung Opacity":
            field_ = c.gauss(x, y, u(0.04, 0.06), u(0.04, 0.07)) * (0.8 + 0.2 * c.noise(rng, c.h * 0.04))
            delta = 0.32 * field_ * lung
            mask = (field_ > 0.35) & lung
        elif label == "Consolidation":
            region = c.ellipse(x, y, u(0.06, 0.09), u(0.05, 0.08)) & lung
            soft = c.blur(region, c.h * 0.008)
            delta = 0.6 * soft
            for _ in range(4):  # air bronchograms: dark branching tubes inside
                t = np.linspace(0, 1, 6)
                ang = u(0, 2 * np.pi)
                xs, ys = x + np.cos(ang) * 0.06 * t, y + np.sin(ang) * 0.05 * t
                delta -= 0.3 * (c.polyline(np.column_stack([xs, ys]), c.h * 0.006) & region)
            mask = soft > 0.3
        elif label == "Lung Lesion":
            r = u(0.018, 0.045)
            region = c.ellipse(x, y, r, r * c.w / c.h)
            delta = 0.65 * c.blur(region, c.h * 0.002)
            mask = region
        else:  # Pneumonia: patchy multifocal airspace opacity
            field_ = np.zeros_like(delta)
            for _ in range(int(rng.integers(3, 6))):
                field_ = np.maximum(field_, c.gauss(x + u(-0.05, 0.05), y + u(-0.05, 0.04), u(0.015, 0.03), u(0.015, 0.03)))
            field_ *= 0.75 + 0.25 * c.noise(rng, c.h * 0.02)
            delta = 0.5 * field_ * lung
            mask = (field_ > 0.3) & lung
        return delta, mask, side, zone
    if label == "Atelectasis":
        x, y = lung_point("lower zone")
        t = np.linspace(-1, 1, 8)
        band = c.polyline(np.column_stack([x + 0.07 * t, y + 0.015 * t * u(-1, 1)]), max(2.0, c.h * 0.012)) & lung
        if not band.any():  # a very small image: a short plate at the chosen point
            band = c.ellipse(x, y, 0.04, 0.02)
        soft = c.blur(band, c.h * 0.004)
        return 0.55 * soft, soft > 0.25, side, "base"
    if label == "Pleural Effusion":
        dome = g[f"{side}_dome_curve"]
        level = u(0.08, 0.16)
        lateral = np.abs(c.xn - g[f"{side}_cx"]) / (g["lung_w"] + 0.03)
        fluid = lung & (c.yn > dome - level - 0.08 * lateral ** 2)  # meniscus rises laterally
        soft = c.blur(fluid, c.h * 0.006)
        return 0.75 * soft, fluid, side, "costophrenic angle"
    if label == "Pneumothorax":
        apical = rng.random() < 0.6
        cx = g[f"{side}_cx"]
        inner = c.ellipse(cx + sign * -0.01, (ly0 + ly1) / 2 + (0.05 if apical else 0), g["lung_w"] - u(0.02, 0.05), (ly1 - ly0) / 2 - u(0.03, 0.07))
        region = lung & ~inner & (c.yn < (ly0 + 0.55 * (ly1 - ly0)) if apical else lung & ~inner & (np.abs(c.xn - cx) > 0.05))
        a.markings_off |= region
        edge = cv2.morphologyEx(inner.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool) & lung
        edge &= cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        delta = -0.1 * region + 0.35 * c.blur(edge, 0.7)
        return delta, region | edge, side, "apex" if apical else "lateral pleural space"
    if label == "Fracture":
        # a point on a posterior rib, lateral to the spine, in the chosen side's hemithorax
        on_rib = (a.bone > 0.15) & ((c.xn - g["mid"]) * sign > 0.18) & ((c.xn - g["mid"]) * sign < 0.36) \
            & (c.yn > g["apex"] + 0.08) & (c.yn < g["apex"] + 0.45)
        ys, xs = np.nonzero(on_rib)
        k = int(rng.integers(len(xs)))
        x, y = xs[k] / c.w, ys[k] / c.h
        gap = c.ellipse(x, y, 0.009, 0.03) & (a.bone > 0.15)
        step = c.ellipse(x + sign * 0.012, y + 0.008, 0.012, 0.012)
        delta = -a.bone * gap - 0.05 * gap + 0.12 * c.blur(step & (a.bone > 0.15), 1.0)
        region = c.ellipse(x, y, 0.025, 0.035)
        return delta, region & ((a.bone > 0.1) | gap), side, "rib"
    if label == "Support Devices":
        kind = str(rng.choice(["endotracheal tube", "central line", "pacemaker"]))
        if kind == "endotracheal tube":
            t = np.linspace(0, 1, 10)
            line = np.column_stack([np.full(10, g["mid"]), g["apex"] - 0.1 + 0.27 * t])
            region = c.polyline(line, c.h * 0.01)
            delta = 0.7 * region
            return delta, region, "midline", "trachea"
        if kind == "central line":
            t = np.linspace(0, 1, 16)
            xs = g["mid"] - 0.25 + 0.22 * t - 0.02 * t ** 2
            ys = g["apex"] + 0.05 + 0.02 * np.sin(t * 3) + 0.25 * t ** 1.5
            region = c.polyline(np.column_stack([xs, ys]), c.h * 0.006)
            return 0.8 * region, region, "right", "superior vena cava"
        px, py = g["mid"] + 0.28, g["apex"] + 0.08
        box = (np.abs(c.xn - px) < 0.04) & (np.abs(c.yn - py) < 0.025)
        t = np.linspace(0, 1, 16)
        lead = c.polyline(np.column_stack([px - 0.3 * t, py + 0.05 * np.sin(t * 3) + 0.35 * t]), c.h * 0.005)
        region = box | lead
        return 1.0 * box + 0.7 * lead, region, "left", "upper zone"
    if label == "Pleural Other":
        y0 = u(ly0 + 0.2 * (ly1 - ly0), ly0 + 0.5 * (ly1 - ly0))
        wall = np.zeros((c.h, c.w), np.uint8)
        edge = (cv2.morphologyEx(lung.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0)
        lateral = edge & ((c.xn - g["mid"]) * sign > g["lung_w"] * 0.9) & (c.yn > y0) & (c.yn < y0 + u(0.12, 0.2))
        wall = cv2.dilate(lateral.astype(np.uint8), np.ones((int(c.h * 0.02) | 1,) * 2, np.uint8)).astype(bool) & (lung | a.masks["chest"])
        return 0.45 * c.blur(wall, 1.5), wall, side, "lateral chest wall"
    if label == "Calcification of the Aorta":
        kx, ky = g["knob"]
        ring = c.ellipse(kx, ky, 0.034, 0.030) & ~c.ellipse(kx - 0.004, ky + 0.002, 0.026, 0.022) & (c.xn > kx - 0.01)
        return 0.8 * c.blur(ring, 0.8), ring, "left", "aortic knob"
    if label == "Tortuous Aorta":
        t = np.linspace(0, 1, 20)
        xs = g["mid"] + g["mw"] + 0.01 + 0.035 * np.sin(t * np.pi * 1.5) ** 2
        ys = g["knob"][1] + 0.32 * t
        region = c.polyline(np.column_stack([xs, ys]), c.h * 0.04) & ~a.masks["mediastinum"]
        return 0.35 * c.blur(region, 2), region, "left", "descending aorta"
    if label == "Pneumoperitoneum":
        dome = g[f"{side}_dome_curve"]
        region = (c.yn > dome + 0.005) & (c.yn < dome + u(0.02, 0.035)) & (np.abs(c.xn - g[f"{side}_cx"]) < g["lung_w"] * 0.8) & a.masks["chest"]
        return -0.55 * c.blur(region, 1.0), region, side, "hemidiaphragm"
    if label == "Subcutaneous Emphysema":
        outside_lungs = a.masks["chest"] & ~a.masks["right_lung"] & ~a.masks["left_lung"]
        wall = outside_lungs & ((c.xn - g["mid"]) * sign > g["lung_w"] + 0.08) & (c.yn > 0.22) & (c.yn < 0.78)
        ys, xs = np.nonzero(wall)
        streaks = np.zeros((c.h, c.w), np.float32)
        for k in rng.integers(0, len(xs), 25):
            x, y = xs[k] / c.w, ys[k] / c.h
            ang = u(-0.5, 0.5) + np.pi / 2
            c.draw(streaks, np.array([[x, y], [x + 0.01 * np.cos(ang), y + 0.04 * np.sin(ang)]]), c.h * 0.004, 1.0)
        region = (streaks > 0) & outside_lungs
        return -0.45 * c.blur(region, 0.8), region, side, "chest wall"
    if label == "Pneumomediastinum":
        region = np.zeros((c.h, c.w), bool)
        for s in (-1, 1):
            t = np.linspace(0, 1, 12)
            xs = g["mid"] + s * (g["mw"] + 0.008 + 0.01 * np.sin(t * 5))
            ys = g["apex"] + 0.08 + 0.3 * t
            region |= c.polyline(np.column_stack([xs, ys]), max(1, c.h * 0.005))
        return -0.4 * c.blur(region, 0.8), region, "midline", "mediastinum"
    if label == "Edema":
        haze = np.zeros((c.h, c.w), np.float32)
        lungs = a.masks["right_lung"] | a.masks["left_lung"]
        for s in ("right", "left"):
            haze = np.maximum(haze, c.gauss(g["mid"] + (-1 if s == "right" else 1) * 0.12, g["apex"] + 0.33, 0.08, 0.12))
        kerley = np.zeros((c.h, c.w), bool)
        for s in (-1, 1):
            for k in range(5):
                y = g["r_dome"] - 0.02 - 0.025 * k
                x = g["mid"] + s * (g["lung_w"] * 1.9)
                kerley |= c.polyline(np.array([[x, y], [x - s * 0.03, y]]), 1)
        kerley &= lungs
        delta = 0.35 * haze * lungs + 0.25 * kerley
        return delta, ((haze > 0.35) & lungs) | kerley, "bilateral", "perihilar region"
    if label == "Cardiomegaly":
        return delta, a.masks["heart"].copy(), "midline", "cardiac silhouette"
    if label == "Enlarged Cardiomediastinum":
        widened = a.masks["mediastinum"] & (np.abs(c.xn - g["mid"]) > 0.045)  # beyond the normal half-width
        return delta, widened, "midline", "mediastinum"
    raise AssertionError(label)


def render_phantom(
    labels: Sequence[str], rng: np.random.Generator, size: tuple[int, int] = (512, 512)
) -> Phantom:
    """Render a PA chest radiograph phantom showing ``labels``.

    labels: MIMIC-CXR-LT class names (``No Finding`` or any subset of the others).
    rng: the only source of randomness; it is split into independent streams for the
        anatomy, the findings and the noise, so the anatomy of a seed does not depend on
        the findings asked for.
    size: ``(width, height)`` in pixels, each >= 64.
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
    c = _Canvas(w, h)
    a = _anatomy(c, anatomy_rng, "Cardiomegaly" in labels, "Enlarged Cardiomediastinum" in labels)
    deltas, findings = [], []
    for lab in labels:
        if lab == "No Finding":
            continue
        delta, mask, side, zone = _finding(lab, a, finding_rng)
        mask = mask & a.masks["chest"] if lab not in ("Support Devices",) else mask
        if not mask.any():
            raise AssertionError(f"render_phantom: finding {lab!r} has an empty mask")
        deltas.append(delta)
        findings.append(Finding(lab, side, zone, _bbox(mask), mask))
    att = a.att + _markings(a, anatomy_rng)
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
