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

REPO = Path(__file__).resolve().parents[2]
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


#: Run in a page once MathJax has typeset it: every box of the main column whose content is wider
#: than the box (scrolled sideways in a reader's browser, cut in a screenshot), outermost only, as
#: "equation|table|code|output: its text"; "page: ..." when the column itself runs over. Code shown
#: open (an exercise's) counts; folded code (a closed <details>, which Chromium still lays out) does not.
_PROBE = """<script>
window.addEventListener('load', () => setTimeout(() => (window.MathJax && MathJax.startup ? MathJax.startup.promise
  : Promise.resolve()).then(() => {
  const kind = e => e.matches('mjx-container') || e.querySelector('mjx-container[display="true"]') ? 'equation'
    : e.matches('table') || e.querySelector('table') ? 'table' : e.closest('.cell_input') ? 'code' : 'output';
  const skipped = 'details:not([open]) *, mjx-assistive-mml, span.math, mjx-container:not([display="true"])';  // folded code, inline maths
  const shown = e => e.clientWidth > 20 && e.getClientRects().length && !e.closest(skipped)
    && (e.matches('mjx-container') || !e.closest('mjx-container'));  // a display equation as one box
  const over = e => shown(e) && e.scrollWidth > e.clientWidth + 2
    && ['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowX);
  const article = document.querySelector('article') || document.body;
  const boxes = [...article.querySelectorAll('*')].filter(over);  // scrolled sideways (or cut)
  const outer = boxes.filter(e => !boxes.some(a => a !== e && a.contains(e)));
  const wide = outer.map(e => kind(e) + ' (' + (e.scrollWidth - e.clientWidth) + ' px over): ' + (e.querySelector('thead, tr') || e).textContent.replace(/\\s+/g, ' ').trim().slice(0, 60));
  if (article.scrollWidth > article.clientWidth + 1) wide.push('page: wider than the column');
  document.body.setAttribute('data-wide', JSON.stringify(wide));
}), 300));
</script>"""


def wide_elements(pages: list[Path], width: int = 1280) -> dict[str, list[str]]:
    """Page name -> the display equations, outputs and tables wider than the book's column at a
    ``width`` px window, measured in headless Chromium after MathJax has typeset the page."""
    import html
    import json
    import re

    exe = chromium()
    found = {}
    with tempfile.TemporaryDirectory() as profile:
        for page in pages:
            probe = page.with_name(f".probe-{page.name}")  # beside the page: its relative assets load
            probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
            try:
                dom = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},3000",
                                      "--virtual-time-budget=15000", "--dump-dom", probe.resolve().as_uri()],
                                     capture_output=True, text=True, timeout=180, check=True).stdout
            finally:
                probe.unlink()
            m = re.search(r'data-wide="([^"]*)"', dom)
            if m is None:
                raise RuntimeError(f"{page}: the width probe did not run (MathJax did not finish?)")
            wide = json.loads(html.unescape(m.group(1)))
            if wide:
                found[page.stem] = wide
    return found
