"""Byte-stable writing of the cohort's files: CSV (optionally gzip with mtime 0) and images.

Every file goes through ``radgazegen.core.io`` (atomic writes), and the same inputs give the
same bytes, so a seed writes a byte-identical cohort.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from radgazegen.core import io as rio


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as CSV bytes: no index, ``\\n`` line ends, floats with 4 decimals."""
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.4f").encode()


def write_csv(path: Path, frame: pd.DataFrame, compress: bool = False) -> None:
    """Write ``frame`` to ``path`` atomically; ``compress`` gzips it with mtime 0 (as ``.csv.gz``)."""
    data = csv_bytes(frame)
    rio.write_bytes(path, gzip.compress(data, mtime=0) if compress else data)


def encode(img: np.ndarray, ext: str, quality: int = 95) -> bytes:
    """Encode an ``(H, W)`` uint8 image as ``ext`` (".jpg" at ``quality``, or ".png")."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise RuntimeError(f"could not encode {ext}")
    return buf.tobytes()


def label_text(value: float) -> str:
    """A label value as MIMIC-CXR's label files write it: "1.0", "0.0", "-1.0", or "" (not mentioned)."""
    return "" if value != value else f"{float(value):.1f}"
