"""Chapter 13's figures of the primary test (``metrics.mirrored_gaze``): the chain (the endpoint
against HVA-CN's training steps and against the gaze conditioning scale) and the mirrored-gaze
examples."""
from __future__ import annotations

import numpy as np

from radgazegen.figures import FIG_WIDTH_IN
from radgazegen.generation.methods import HVA_CN_EQ5, ORACLE
from radgazegen.metrics import counterfactual
from radgazegen.metrics.mirrored_gaze import GAZED_LUNG


def chain_figure(curve, dose, ceiling: float, hva_name: str = HVA_CN_EQ5):
    """Left: ``curve`` (``mirrored_gaze.training_curve``); right: ``dose``
    (``mirrored_gaze.dose_response``) with its intervals. Grey dashed: SD's 0.5; green dotted:
    the localiser's ``ceiling`` (the true counterfactual's mean)."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(FIG_WIDTH_IN, 2.8))
    a1.plot(curve.step, curve[GAZED_LUNG], "o-", lw=1.5)
    a1.set(xlabel=f"{hva_name} training step", ylabel="finding in the gazed lung\n(seed 0)")
    if len(dose):
        x = np.arange(len(dose))
        a2.errorbar(x, dose[GAZED_LUNG], yerr=[dose[GAZED_LUNG] - dose.low, dose.high - dose[GAZED_LUNG]], fmt="o-", lw=1.5)
        a2.set_xticks(x, [f"{s:g}" for s in dose["gaze scale"]], fontsize=8)
    a2.set(xlabel="gaze conditioning scale", ylabel="finding in the gazed lung\n(seed 0, 95% interval)")
    for a in (a1, a2):
        a.axhline(0.5, color="gray", lw=1, ls="--")
        a.axhline(float(ceiling), color="green", lw=1, ls=":")
    fig.tight_layout()
    return fig


def examples_figure(test, arms, n_rows: int):
    """Per row a finding of ``test`` (``mirrored_gaze.PrimaryTest``): its gaze mask as recorded
    and mirrored, SD's image, and HVA-CN (Eq. 5)'s and the oracle's images (``arms``, seed 0)
    from both controls. Red: the finding's box; cyan: its mirror; yellow cross: the localiser's
    strongest logit inside the lungs."""
    import matplotlib.pyplot as plt

    n_rows, r_px = min(n_rows, len(test)), test.resolution
    shown = [n for n in ("SD", HVA_CN_EQ5, ORACLE) if n in arms.images]
    fig, axes = plt.subplots(n_rows, 2 * len(shown) + 1, figsize=(FIG_WIDTH_IN, 1.1 * n_rows + 0.6), squeeze=False)
    short = {HVA_CN_EQ5: "HVA-CN", ORACLE: "oracle"}
    titles = ["gaze", "mirrored", "SD", *[f"{short[n]}\n{w}" for n in shown[1:] for w in ("gaze", "mirrored")]]
    for r in range(n_rows):
        panels = [test.gaze[r, 0], test.mirrored[r, 0], arms.images["SD"][0][r],
                  *[arms.images[n][0][k][r] for n in shown[1:] for k in (0, 1)]]
        for c, (ax, im) in enumerate(zip(axes[r], panels)):
            ax.imshow(im, cmap="gray")
            for b, color in ((test.boxes[r], "red"), (counterfactual.mirror_box(test.boxes[r], r_px), "cyan")):
                ax.add_patch(plt.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, edgecolor=color, lw=0.8))
            if c >= 2:
                lg = np.where(test.lungs[r], test.localiser.logits(im[None])[0], -np.inf)
                yy, xx = np.unravel_index(lg.argmax(), lg.shape)
                ax.plot(xx, yy, "x", color="yellow", ms=5)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
        axes[r][0].set_ylabel(test.items[r].finding.replace("Lung ", ""), fontsize=8)
    fig.tight_layout()
    return fig
