"""The image grid the chapters draw their galleries with: axes, titles, patches, text size."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from radgazegen.figures import BOOK_WIDTH_IN, image_grid  # noqa: E402


def _rects(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_flat_grid_axes_titles_boxes_and_empty_cells():
    ims = [np.full((32, 32), 40 * i, np.uint8) for i in range(5)]
    fig = image_grid(ims, titles=["a", "b", "", "d", "e"], ncols=3, boxes=[[(2, 3, 10, 12)], None, None, None, []],
                     suptitle="five images")
    axes = fig.axes
    assert len(axes) == 6                                            # 2 rows x 3 columns
    assert [ax.get_title() for ax in axes] == ["a", "b", "", "d", "e", ""]
    assert [len(ax.images) for ax in axes] == [1, 1, 1, 1, 1, 0]     # the sixth cell stays empty
    (box,) = _rects(axes[0])
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (2, 3, 8, 9)
    assert box.get_edgecolor()[:3] == pytest.approx((1, 0, 0))
    assert sum(len(_rects(ax)) for ax in axes[1:]) == 0
    assert axes[0].images[0].get_clim() == (0, 255)                  # uint8 on its full scale
    assert fig._suptitle.get_text() == "five images"
    assert all(not ax.get_xticks().size and not ax.get_yticks().size for ax in axes)


def test_nested_rows_labels_overlays_colours_frames_and_text_cells():
    im = np.linspace(0, 2, 16 * 16).reshape(16, 16)                  # float: its own range
    heat = np.ma.masked_less(np.linspace(0, 1, 16 * 16).reshape(16, 16), 0.5)
    fig = image_grid([[im, im, "a text cell"], [im, None]],
                     titles=[["x", "y", ""], ["z", ""]], row_labels=["top", "bottom"],
                     overlays=[heat, None, None, None, None], cmap=["inferno", "gray", "gray", "gray", "gray"],
                     title_colors=[None, "green", None, None, None], frames=[None, "green", None, None, None],
                     vlims=[(0, 1), None, None, None, None], box_color="cyan",
                     boxes=[None, None, None, [(1, 1, 4, 4)], None])
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_title() for ax in axes.flat] == ["x", "y", "", "z", "", ""]
    assert [axes[0, 0].get_ylabel(), axes[1, 0].get_ylabel(), axes[0, 1].get_ylabel()] == ["top", "bottom", ""]
    assert len(axes[0, 0].images) == 2                               # image + overlay
    assert axes[0, 0].images[0].get_cmap().name == "inferno"
    assert axes[0, 0].images[0].get_clim() == (0, 1)
    assert axes[0, 1].images[0].get_clim() == pytest.approx((0, 2))
    assert axes[0, 1].title.get_color() == "green"
    assert all(s.get_visible() for s in axes[0, 1].spines.values())
    assert not any(s.get_visible() for s in axes[0, 0].spines.values())
    assert [t.get_text() for t in axes[0, 2].texts] == ["a text cell"] and not axes[0, 2].images
    (box,) = _rects(axes[1, 0])
    assert box.get_edgecolor()[:3] == pytest.approx((0, 1, 1))
    assert len(axes[1, 1].images) == 0


def test_text_keeps_its_size_at_the_book_width_and_titles_wrap():
    ims = [np.zeros((8, 8), np.uint8)] * 6
    narrow = image_grid(ims[:2], titles=["a"] * 2, cell=2.0, title_size=9)
    assert narrow.axes[0].title.get_fontsize() == pytest.approx(9)   # 4 in: shown at its size
    wide = image_grid(ims, titles=["a long title that needs wrapping here"] * 6, cell=2.0, title_size=9)
    width = wide.get_size_inches()[0]
    assert width == pytest.approx(12.0)
    assert wide.axes[0].title.get_fontsize() * BOOK_WIDTH_IN / width == pytest.approx(9)
    assert "\n" in wide.axes[0].title.get_text()


def test_per_image_arguments_must_match_the_cells():
    with pytest.raises(ValueError, match="titles"):
        image_grid([np.zeros((4, 4))] * 3, titles=["a", "b"])


def test_displayed_text_size_follows_the_book_width():
    from radgazegen.figures import displayed_text_pt

    narrow, ax = plt.subplots(figsize=(4, 3))
    ax.set_title("ten", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    assert displayed_text_pt(narrow) == pytest.approx(10)            # narrower than the book: as drawn
    wide = plt.figure(figsize=(14, 3))
    ax = wide.add_axes((0, 0, 1, 1))                                  # the saved PNG: 14 in + 0.1 in pad each side
    ax.text(0.5, 0.5, "ten", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    assert displayed_text_pt(wide) == pytest.approx(10 * BOOK_WIDTH_IN / 14.2, rel=0.01)  # scaled down to the column
    empty = plt.figure(figsize=(2, 2))
    assert displayed_text_pt(empty) == float("inf")


def test_glue_figure_glues_closes_and_warns_on_small_text(monkeypatch):
    import radgazegen.figures.book
    from radgazegen import figures

    glued = []
    monkeypatch.setattr(radgazegen.figures.book, "glue", lambda name, value: glued.append((name, value)))
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("legible", fontsize=9)
    assert figures.glue_figure("fig-a", fig) is None                  # nothing more for the cell to show
    assert glued == [("fig-a", fig)] and not plt.fignum_exists(fig.number)   # closed: shown once, from the prose
    small, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("tiny", fontsize=6)
    with pytest.warns(UserWarning, match="fig-b.*6.0 pt"):
        figures.glue_figure("fig-b", small)
    figures.glue_figure("fig-c", None, empty="nothing here")
    name, placeholder = glued[-1]
    assert name == "fig-c"
    assert [t.get_text() for t in placeholder.texts] == ["nothing here"]
    assert figures.displayed_text_pt(placeholder) >= figures.MIN_TEXT_PT
