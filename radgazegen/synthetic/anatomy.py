"""The normal chest drawn from geometry: canvas helpers, anatomy, vascular markings.

Internal to ``radgazegen.synthetic.phantom``: coordinates are normalised (0..1 of width /
height) while drawing; masks are ``(H, W)`` bool; attenuation maps ``(H, W)`` float32
(air 0, aerated lung ~0.3, soft tissue ~1, bone up to ~1.8).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


class Canvas:
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
class Anatomy:
    c: Canvas
    att: np.ndarray            # attenuation map being built
    bone: np.ndarray           # bone attenuation (ribs, clavicles, spine)
    masks: dict
    geo: dict                  # geometry numbers used by findings
    markings_off: np.ndarray   # where lung markings must not be drawn (pneumothorax)


def draw_anatomy(c: Canvas, rng: np.random.Generator, cardiomegaly: bool, wide_mediastinum: bool) -> Anatomy:
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
    return Anatomy(c, att, bone, masks, geo, np.zeros_like(chest))


def draw_markings(a: Anatomy, rng: np.random.Generator) -> np.ndarray:
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


