"""Every page of the built book as a reader's browser shows it (``make screenshots``).

Debian's headless Chromium (``apt-get install chromium``) loads each page of ``_build/html`` at
a desktop width and saves a PNG of the whole page (a tall window, cut below the last line of
the main column) into ``_build/screenshots/``, named after the page. Nothing is fetched from
the network: the book is offline (MathJax bundled) and Chromium runs with its background
networking off.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def chromium() -> str:
    """The Chromium executable, or a ``FileNotFoundError`` saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("no Chromium on PATH: install Debian's package (apt-get install chromium)")


def trim(image: np.ndarray, margin: int = 40, column: tuple[float, float] = (0.22, 0.78), gap: int = 1200) -> np.ndarray:
    """``image`` ``(H, W, 3)`` cut ``margin`` px below the page's content: the last non-white row
    of its main column (the fraction ``column`` of its width: the sidebars' borders run the
    window's full height) before the first white stretch of ``gap`` rows or more (below it, only
    the page's footer, pushed to the bottom of the tall window)."""
    a, b = int(image.shape[1] * column[0]), int(image.shape[1] * column[1])
    rows = np.flatnonzero((image[:, a:b] < 245).any(axis=(1, 2)))
    if not len(rows):
        return image[:margin]
    breaks = np.flatnonzero(np.diff(rows) >= gap)
    last = rows[breaks[0]] if len(breaks) else rows[-1]
    return image[:min(len(image), last + margin)]


def shoot(pages: list[Path], out: Path, width: int = 1280, height: int = 16000) -> list[Path]:
    """One PNG per page (``out/<page stem>.png``), at ``width`` px, at most ``height`` px tall."""
    import cv2

    exe = chromium()
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with tempfile.TemporaryDirectory() as profile:
        for page in pages:
            dest = out / f"{page.stem}.png"
            subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                            f"--screenshot={dest}", page.resolve().as_uri()], capture_output=True, timeout=180, check=True)
            image = cv2.imread(str(dest))
            if image is None:
                raise RuntimeError(f"{page}: Chromium wrote no screenshot")
            cv2.imwrite(str(dest), trim(image))
            shots.append(dest)
    return shots


def book_pages(html: Path | None = None) -> list[Path]:
    """The book's pages in reading order of their paths: the introduction, chapters, back matter."""
    html = html or REPO / "_build" / "html"
    pages = sorted((html / "book").rglob("*.html"))
    if not pages:
        raise FileNotFoundError(f"{html}: no built book (run `make book` first)")
    return pages
