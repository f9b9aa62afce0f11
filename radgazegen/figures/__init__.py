"""Figures shared by the notebooks (matplotlib). Each function draws on axes it is given
or creates, and returns the figure, so notebooks decide layout and the book shows it."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from radgazegen.core.labels import LT_MEDIUM, LT_TAIL

#: Width of a chart meant to span the book's text column: a margin under ``BOOK_WIDTH_IN`` for
#: the padding and labels the saved PNG adds, so that its text shows at its own size.
FIG_WIDTH_IN = 6.6

GROUP_COLOURS = {"head": "#4c72b0", "medium": "#dd8452", "tail": "#c44e52"}


def lt_group(label: str) -> str:
    """"head", "medium" or "tail" for a MIMIC-CXR-LT class (the paper's grouping)."""
    return "tail" if label in LT_TAIL else "medium" if label in LT_MEDIUM else "head"


def withheld(images, show: bool):
    """Radiographs read from a data root, as a figure may embed them (the privacy guard).

    ``images``: ``(H, W)`` or ``(N, H, W)`` arrays (or a list of them), returned unchanged when
    ``show`` (the synthetic cohort, or a user whose data licence allows it and who opted in
    with ``show_real_images: true``); else panels of the same shape, flat grey with a cross,
    that carry nothing of the image (the ``full`` profile by default: MIMIC-CXR, REFLACX,
    EGD-CXR and CheXpert are credentialed data). Controls, generated images and aggregates are
    never passed through here.
    """
    if show:
        return images
    if isinstance(images, (list, tuple)):
        return [withheld(im, False) for im in images]
    arr = np.asarray(images)
    if arr.ndim == 3:
        return np.stack([withheld(a, False) for a in arr]) if len(arr) else arr
    h, w = arr.shape[:2]
    grey = 0.5 if np.issubdtype(arr.dtype, np.floating) else 128
    panel = np.full(arr.shape, grey, arr.dtype)
    k = np.arange(min(h, w))
    panel[k * h // min(h, w), k * w // min(h, w)] = 0  # a cross: "no image here", not a dark radiograph
    panel[(min(h, w) - 1 - k) * h // min(h, w), k * w // min(h, w)] = 0
    return panel


def draw_reading(ax, image: np.ndarray, fixations: pd.DataFrame | None = None,
                 boxes: Sequence = (), title: str = "", max_marker: float = 120.0) -> None:
    """Radiograph with fixations and finding boxes.

    image: (H, W) uint8. fixations: columns x, y (original-image pixels), start, end
    (seconds); drawn as circles whose area grows with duration and whose colour runs
    from early (dark) to late (yellow) in the reading. boxes: objects with label, xmin,
    ymin, xmax, ymax (pixels), drawn as red rectangles.
    """
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    if fixations is not None and len(fixations):
        dur = (fixations["end"] - fixations["start"]).clip(lower=0.02).to_numpy()
        ax.scatter(fixations["x"], fixations["y"], s=max_marker * dur / dur.max(),
                   c=fixations["start"], cmap="viridis", alpha=0.75, linewidths=0)
        ax.plot(fixations["x"], fixations["y"], color="yellow", lw=0.4, alpha=0.35)
    for b in boxes:
        ax.add_patch(plt.Rectangle((b.xmin, b.ymin), b.xmax - b.xmin, b.ymax - b.ymin,
                                   fill=False, edgecolor="red", lw=1.5))
        ax.text(b.xmin, b.ymin - 3, b.label, color="red", fontsize=8, va="bottom")
    ax.set_title(title, fontsize=8)
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.axis("off")


def plot_label_distribution(counts: pd.Series, title: str = "", ax=None):
    """Bar chart (log scale) of images per MIMIC-CXR-LT class, coloured head / medium / tail.

    counts: class name -> number of images, in the order to plot.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(FIG_WIDTH_IN, 3.6))
    colours = [GROUP_COLOURS[lt_group(c)] for c in counts.index]
    ax.bar(range(len(counts)), counts.to_numpy(), color=colours)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(range(len(counts)), counts.index, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("images (log scale)")
    if title:
        ax.set_title(title, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in GROUP_COLOURS.values()]
    ax.legend(handles, list(GROUP_COLOURS), fontsize=8, frameon=False)
    ax.figure.tight_layout()
    return ax.figure


def plot_reading_timeline(fixations: pd.DataFrame, words: pd.DataFrame, image_size: tuple[int, int],
                          highlight: Sequence[str] = (), ax=None):
    """Fixation x/y position (fraction of the image) over time, with the dictated words.

    Shows the two phases of a reading: the search of the chest, then dwell on each
    finding while it is dictated. Words in ``highlight`` (finding keywords) are marked.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(FIG_WIDTH_IN, 3.0))
    w, h = image_size
    mid = (fixations["start"] + fixations["end"]) / 2
    ax.plot(mid, fixations["x"] / w, ".-", lw=0.6, ms=3, label="x / width")
    ax.plot(mid, fixations["y"] / h, ".-", lw=0.6, ms=3, label="y / height")
    lowered = {k.lower() for k in highlight}
    for _, wd in words.iterrows():
        hit = str(wd["word"]).strip(".,;:").lower() in lowered
        if hit:
            ax.axvspan(wd["start"], wd["end"], color="red", alpha=0.25)
            ax.text(wd["start"], 1.02, str(wd["word"]), fontsize=8, color="red", rotation=30)
    ax.set_xlabel("seconds from the start of the dictation")
    ax.set_ylabel("gaze position")
    ax.set_ylim(-0.05, 1.1)
    ax.legend(fontsize=8, loc="lower right", frameon=False)
    ax.figure.tight_layout()
    return ax.figure


def plot_validation_steps(paths, title: str):
    """The validation images a training run wrote (one PNG row per validation step), stacked to
    the book's width; None when there are none (``validate_every = 0``)."""
    import cv2

    if not paths:
        return None
    rows = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
    h, w = rows[0].shape
    width = FIG_WIDTH_IN - 0.6  # the row labels take the rest
    fig, axes = plt.subplots(len(rows), 1, figsize=(FIG_WIDTH_IN, (width * h / w + 0.15) * len(rows) + 0.4), squeeze=False)
    for ax, path, row in zip(axes[:, 0], paths, rows):
        ax.imshow(row, cmap="gray")
        stem = Path(path).stem
        ax.set_ylabel(f"step {int(stem[5:])}" if stem.startswith("step-") and stem[5:].isdigit() else stem, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


#: Width of the book's text column, in inches at matplotlib's 100 dpi (about 700 px): a wider
#: figure is shown scaled down to it, so ``image_grid`` sizes its text for that width.
BOOK_WIDTH_IN = 7.0


_TEXT = TextToPath()  # measures text for wrapping


def _wrap(text: str, width_pt: float, size: float) -> str:
    """``text`` with each of its lines wrapped at spaces to ``width_pt`` points at ``size`` pt
    (measured in matplotlib's default font); a word longer than that stays whole."""
    font = FontProperties(size=size)
    out = []
    for line in str(text).split("\n"):
        current = ""
        for word in line.split(" "):
            longer = f"{current} {word}" if current else word
            if current and _TEXT.get_text_width_height_descent(longer, font, ismath=False)[0] > width_pt:
                out.append(current)
                longer = word
            current = longer
        out.append(current)
    return "\n".join(out)


def _per_cell(value, n: int, what: str) -> list:
    """``value`` repeated for ``n`` cells if it is one setting (a string or None), else it as a list of ``n``."""
    if value is None or isinstance(value, str) or (isinstance(value, tuple) and len(value) == 2
                                                   and all(isinstance(v, (int, float)) for v in value)):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"image_grid: {len(value)} {what} for {n} cells")
    return value


def image_grid(images: Sequence, titles: Sequence[str] | None = None, ncols: int | None = None,
               boxes: Sequence | None = None, overlays: Sequence | None = None, row_labels: Sequence[str] | None = None,
               suptitle: str = "", cell: float = 2.2, cmap: str | Sequence = "gray", title_size: int = 9,
               title_colors: Sequence | None = None, frames: Sequence | None = None, vlims: Sequence | None = None,
               box_color: str = "red", overlay_cmap: str = "jet"):
    """A grid of grayscale images with optional titles, boxes and heat-map overlays; returns the figure.

    images: ``(H, W)`` arrays (uint8 0..255 shown on that scale; bool on 0..1; float maps on
        their own range), a string (a text cell: the text, wrapped, in the middle of the
        cell), or None for an empty cell. Filled row by row, ``ncols`` per row (default: all
        in one row); a nested list (rows of images) sets the rows itself. The per-image
        arguments below follow the same order (row by row, one entry per cell of the nested list).
    titles: one per image, "" for none.
    boxes: per image, a list of ``(x0, y0, x1, y1)`` in that image's pixels (or None), drawn
        in ``box_color``.
    overlays: per image, an ``(H, W)`` float map in [0, 1] drawn over it (``overlay_cmap``,
        half transparent), or None; a masked array leaves its masked pixels clear.
    row_labels: one per row, written vertically left of the row.
    cmap: one colour map for all images, or one per image.
    title_colors: per image, the colour of its title (None: black).
    frames: per image, the colour of a frame drawn round it (None: no frame), e.g. to mark
        the selected one.
    vlims: per image, ``(vmin, vmax)`` of its colour scale, or None for the rule above; one
        pair applies to every image.
    cell: inches per image (a row is also as tall as its titles' lines). Text is ``title_size`` pt at the book's width
        (``BOOK_WIDTH_IN``): a grid wider than that gets proportionally larger text, and
        titles are wrapped to the cell's width, so keep grids to about 6 columns.
    (Models: d2l's ``show_images``, diffusers' ``make_image_grid``.)
    """
    nested = len(images) > 0 and isinstance(images[0], (list, tuple))
    rows = [list(r) for r in images] if nested else None
    if rows is None:
        ncols = ncols or max(1, len(images))
        rows = [list(images[i:i + ncols]) for i in range(0, max(1, len(images)), ncols)]
        if not len(images):
            rows = [[None]]
    n = sum(len(r) for r in rows)
    flat_titles = [t for r in titles for t in r] if nested and titles is not None and n and \
        isinstance(titles[0], (list, tuple)) else titles
    flat_titles = _per_cell(flat_titles, n, "titles")
    boxes, overlays = _per_cell(boxes, n, "boxes"), _per_cell(overlays, n, "overlays")
    cmaps, colors = _per_cell(cmap, n, "colour maps"), _per_cell(title_colors, n, "title colours")
    frames, vlims = _per_cell(frames, n, "frames"), _per_cell(vlims, n, "colour scales")
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"image_grid: {len(row_labels)} row labels for {len(rows)} rows")
    ncols = max(len(r) for r in rows)
    width = cell * ncols + (0.3 if row_labels is not None else 0)
    size = title_size * max(1.0, width / BOOK_WIDTH_IN)  # pt in the figure, so title_size pt in the book
    line_pt = cell * 72 * 0.95                          # a title line across one cell, in pt
    flat_titles = [_wrap(t, line_pt, size) if t else t for t in flat_titles]
    lines = max([t.count("\n") + 1 for t in flat_titles if t] or [0])  # title lines above a row of images
    head = 0.0
    if suptitle:
        suptitle = _wrap(suptitle, width * 72 * 0.95, size + 1)
        head = (suptitle.count("\n") + 1) * (size + 1) * 1.4 / 72
    fig, axes = plt.subplots(len(rows), ncols, figsize=(width, (cell + lines * size * 1.3 / 72) * len(rows) + head),
                             squeeze=False)
    k = 0
    for i, r in enumerate(rows):
        for j in range(ncols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if row_labels is not None and j == 0:
                ax.set_ylabel(_wrap(row_labels[i], line_pt, size), fontsize=size)
            if j >= len(r):
                continue
            img = r[j]
            if isinstance(img, str):
                ax.text(0.5, 0.5, _wrap(img, line_pt, size), ha="center", va="center", fontsize=size, transform=ax.transAxes)
            elif img is not None:
                img = np.asarray(img)
                kw = {"vmin": 0, "vmax": 255} if img.dtype == np.uint8 else {"vmin": 0, "vmax": 1} \
                    if img.dtype == bool else {}
                if vlims[k] is not None:
                    kw = {"vmin": vlims[k][0], "vmax": vlims[k][1]}
                ax.imshow(img, cmap=cmaps[k], **kw)
                if overlays[k] is not None:
                    ax.imshow(overlays[k], cmap=overlay_cmap, alpha=0.45, vmin=0, vmax=1)
                for x0, y0, x1, y1 in (boxes[k] if boxes[k] is not None else ()):
                    ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=box_color,
                                               lw=1.5 * size / title_size))
            if flat_titles[k]:
                ax.set_title(flat_titles[k], fontsize=size, color=colors[k] or "black")
            if frames[k] is not None:
                for side in ax.spines.values():
                    side.set_visible(True)
                    side.set_edgecolor(frames[k])
                    side.set_linewidth(2.5 * size / title_size)
            k += 1
    if suptitle:
        fig.suptitle(suptitle, fontsize=size + 1)
    for _ in range(2):  # the second pass sees the titles where the first put the axes (no overlap)
        fig.tight_layout()
    return fig


#: The smallest text a figure may show, in pt at the size the book displays it.
MIN_TEXT_PT = 8.0


def displayed_text_pt(fig) -> float:
    """The size, in pt as the book displays ``fig``, of its smallest visible text (inf: no text).

    The chapters' PNGs are saved as Jupyter saves them (``bbox_inches="tight"``, 0.1 in pad, the
    figure's dpi) and a PNG wider than the book's text column (``BOOK_WIDTH_IN``) is scaled down
    to it, so a text of ``s`` pt shows at ``s * min(1, BOOK_WIDTH_IN / saved width)`` pt."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    if not hasattr(fig.canvas, "get_renderer"):  # a closed figure: measure it on a canvas of its own
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width_in = fig.get_tightbbox(renderer).width + 2 * 0.1
    scale = min(1.0, BOOK_WIDTH_IN / width_in)
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
             and t.get_window_extent(renderer).width > 0]
    return min(sizes, default=float("inf")) * scale


def message_figure(text: str):
    """A small figure that says ``text``: what a chapter glues where a run has nothing to draw."""
    fig = plt.figure(figsize=(BOOK_WIDTH_IN * 0.6, 0.8))
    fig.text(0.5, 0.5, _wrap(text, BOOK_WIDTH_IN * 0.55 * 72, 10), ha="center", va="center", fontsize=10)
    return fig


def glue_figure(name: str, fig, empty: str = "Nothing to draw in this run.") -> None:
    """Glue ``fig`` under ``name`` for the chapter's ``{glue:figure}`` (with its caption and alt
    text), then close it so that it is not shown a second time where it was drawn. ``fig`` None
    glues ``message_figure(empty)`` instead, so the chapter's prose always finds its figure.
    Warns when its smallest text would show under ``MIN_TEXT_PT`` at the book's width (the
    smoke test fails on any warning a chapter prints). Returns None, so that a cell ending with
    it shows nothing more."""
    import warnings

    from radgazegen.figures.book import glue

    fig = message_figure(empty) if fig is None else fig
    smallest = displayed_text_pt(fig)
    if smallest < MIN_TEXT_PT:
        warnings.warn(f"figure {name!r}: its smallest text shows at {smallest:.1f} pt in the book "
                      f"(at least {MIN_TEXT_PT:g} pt): enlarge the text or split the figure", stacklevel=2)
    glue(name, fig)
    plt.close(fig)
