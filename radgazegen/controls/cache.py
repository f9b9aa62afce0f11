"""Per-image cache of control maps under the run directory, keyed by their parameters.

``MapCache(run_dir, kind, params)`` stores one file per image in
``<run_dir>/maps/<kind>-<hash of params>/<image id>.png`` (uint8 controls) or ``.npz``
(float maps). A parameter change opens a new folder, so only the maps it touches are
recomputed; later notebooks reuse the same folders. Writes are atomic.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from radgazegen.core.io import write_bytes, write_json


class MapCache:
    """Cache of one kind of map computed with fixed ``params``.

    kind: e.g. "canny", "hva"; params: JSON-serialisable parameters of the computation;
    fmt: "png" for (H, W) uint8 maps, "npz" for float arrays.
    """

    def __init__(self, run_dir: str | Path, kind: str, params: dict, fmt: str = "png"):
        if fmt not in ("png", "npz"):
            raise ValueError(f"fmt: expected 'png' or 'npz', got {fmt!r}")
        text = json.dumps(params, sort_keys=True, default=str)
        self.key = hashlib.sha256(f"{kind}:{text}".encode()).hexdigest()[:12]
        self.dir = Path(run_dir) / "maps" / f"{kind}-{self.key}"
        self.fmt, self.params = fmt, params
        if not (self.dir / "params.json").exists():
            write_json(self.dir / "params.json", {"kind": kind, "params": params})
        self.hits = self.misses = 0

    def path(self, item: str) -> Path:
        return self.dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', item)}.{self.fmt}"

    def get(self, item: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached map of ``item``, computing and storing it on a miss."""
        path = self.path(item)
        if path.exists():
            self.hits += 1
            if self.fmt == "png":
                return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            with np.load(path) as data:
                return data["map"]
        self.misses += 1
        value = compute()
        if self.fmt == "png":
            if value.dtype != np.uint8:
                raise ValueError(f"{path}: png maps must be uint8, got {value.dtype}")
            ok, buf = cv2.imencode(".png", value)
            write_bytes(path, buf.tobytes())
        else:
            bio = io.BytesIO()
            np.savez_compressed(bio, map=value)
            write_bytes(path, bio.getvalue())
        return value


class FindingHVAMaps:
    """Per-finding HVA maps V^m (§3.2.2) of readings, cached under the run directory.

    The one definition chapters 02 (gaze-only localisation) and 03 (hypotheses) share:
    ``maps(record, finding, keywords)`` is ``gaze.finding_hva`` at ``(size, size)`` pixels,
    float32 in [0, 1] (all zeros when nothing was fixated while the finding was dictated),
    stored as ``maps/hva-finding-<hash>/<dicom_id>-<finding>.npz``.
    sigma_px: Gaussian sigma in pixels of a real radiograph (``gaze.REFERENCE_WIDTH_PX`` wide;
    authors 64), rescaled with each image's width (``gaze.at_image_scale``); size: control grid, pixels.
    """

    def __init__(self, run_dir: str | Path, sigma_px: float, size: int):
        self.sigma_px, self.size = float(sigma_px), int(size)
        from radgazegen.controls.gaze import REFERENCE_WIDTH_PX

        self.cache = MapCache(run_dir, "hva-finding", {"sigma_px": self.sigma_px, "size": self.size,
                                                       "reference_width_px": REFERENCE_WIDTH_PX}, fmt="npz")

    def __call__(self, record, finding: str, keywords) -> np.ndarray:
        from radgazegen.controls.gaze import at_image_scale, finding_hva

        sigma = at_image_scale(self.sigma_px, record.image_size[0])
        return self.cache.get(f"{record.dicom_id}-{finding}",
                              lambda: finding_hva(record, keywords, sigma, out_size=(self.size, self.size)))
