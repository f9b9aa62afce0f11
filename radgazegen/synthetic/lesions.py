"""Findings of the MIMIC-CXR-LT classes drawn into a phantom's anatomy, at known places.

``draw_finding`` returns the attenuation the finding adds (or removes), the pixels it
changes (its extent, from which its ground-truth box is taken), and the side and zone
words a report uses for it.
"""
from __future__ import annotations

import cv2
import numpy as np

from radgazegen.synthetic.anatomy import Anatomy, bbox


def draw_finding(label: str, a: Anatomy, rng: np.random.Generator,
                 scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Draw one finding: returns (attenuation delta, extent mask, side, zone). ``scale``
    multiplies the extent of Lung Opacity, Consolidation and Lung Lesion (1: as drawn by
    default; the random draws are the same whatever the scale)."""
    c, g = a.c, a.geo
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    side = str(rng.choice(["right", "left"]))
    sign = -1 if side == "right" else 1
    lung = a.masks[f"{side}_lung"]
    lx0, ly0, lx1, ly1 = bbox(lung)
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
            field_ = c.gauss(x, y, scale * u(0.04, 0.06), scale * u(0.04, 0.07)) * (0.8 + 0.2 * c.noise(rng, c.h * 0.04))
            delta = 0.32 * min(scale, 2.0) * field_ * lung  # denser with scale, to stay visible when drawn larger
            mask = (field_ > 0.35) & lung
        elif label == "Consolidation":
            region = c.ellipse(x, y, scale * u(0.06, 0.09), scale * u(0.05, 0.08)) & lung
            soft = c.blur(region, c.h * 0.008)
            delta = 0.6 * soft
            for _ in range(4):  # air bronchograms: dark branching tubes inside
                t = np.linspace(0, 1, 6)
                ang = u(0, 2 * np.pi)
                xs, ys = x + np.cos(ang) * 0.06 * scale * t, y + np.sin(ang) * 0.05 * scale * t
                delta -= 0.3 * (c.polyline(np.column_stack([xs, ys]), c.h * 0.006) & region)
            mask = soft > 0.3
        elif label == "Lung Lesion":
            r = scale * u(0.018, 0.045)
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


