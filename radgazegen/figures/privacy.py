"""The memorisation chapter's figures (chapter 15): distances to the nearest training image,
and generated images beside their nearest training images (grey panels where training
radiographs may not be shown)."""
from __future__ import annotations

import numpy as np

from radgazegen.figures import withheld


def distance_figure(checks: dict, spaces: dict, methods=None):
    """Per space (``memorisation.spaces``) a histogram of nearest-training distances: the
    training images among themselves (leave-one-out), the held-out test images, and the
    generated images of ``methods`` (all when None; ``checks``: method -> space ->
    ``MemorisationCheck``); dashed: the near-copy threshold. The legend sits below the panels."""
    import matplotlib.pyplot as plt

    names = list(spaces)
    methods = list(checks) if methods is None else [m for m in methods if m in checks]
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.4), squeeze=False)
    for ax, space in zip(axes[0], names):
        any_check = next(iter(checks.values()))[space]
        sets = {"training (leave-one-out)": any_check.training, "held-out test": any_check.test,
                **{m: checks[m][space].generated for m in methods}}
        hi = max(float(np.max(v)) for v in sets.values())
        bins = np.linspace(0, hi * 1.02, 30)
        for k, (label, v) in enumerate(sets.items()):
            ax.hist(v, bins=bins, histtype="step", density=True, lw=1.8 if k < 2 else 1, label=label)
        ax.axvline(any_check.threshold, color="k", ls="--", lw=1)
        ax.set(xlabel=f"nearest training image ({space})", ylabel="density")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.1 + 0.05 * ((len(labels) + 1) // 2), 1, 1))
    return fig


def pairs_figure(generated: np.ndarray, training: np.ndarray, pairs: np.ndarray, show_real_images: bool,
                 titles: tuple[str, str] = ("generated", "nearest training image"), distances=None):
    """Rows of (generated image, training image) for ``pairs`` ``(K, 2)`` (generated index,
    training index); training images are withheld (``figures.withheld``) unless ``show_real_images``."""
    import matplotlib.pyplot as plt

    k = len(pairs)
    fig, axes = plt.subplots(2, max(k, 1), figsize=(1.6 * max(k, 1), 3.4), squeeze=False)
    for j, (g, t) in enumerate(pairs):
        axes[0][j].imshow(generated[g], cmap="gray", vmin=0, vmax=255)
        axes[1][j].imshow(withheld(training[t], show_real_images), cmap="gray", vmin=0, vmax=255)
        if distances is not None:
            axes[1][j].set_xlabel(f"{distances[j]:.3g}", fontsize=8)
    for row, title in zip(axes, titles):
        row[0].set_title(title, fontsize=8, loc="left")
        for ax in row:
            ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig
