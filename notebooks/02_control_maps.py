# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Control maps: radiomics filters, lung masks and HVA maps
#
# **Overview.** RadGazeGen {cite}`bhattacharya2024radgazegen` conditions Stable Diffusion
# {cite}`rombach2022ldm` on two kinds of control through ControlNets
# {cite}`zhang2023controlnet` (§3.2, Fig. 2A). Rad-CN sees *radiomics filter maps* of the
# radiograph $\mathcal{I}^{\mathcal{R}}$, the $\mathcal{R}_i$ of §3.2.1: Canny edges
# {cite}`canny1986edge`, the Sobel gradient magnitude and the Laplacian of Gaussian "GL"
# {cite}`marr1980edge`, and its *lung mask*; HVA-CN sees a *human visual attention* (HVA) map
# $\mathcal{V}^m$ made from where the radiologist looked while dictating finding $m$ (§3.2.2),
# computed as in {cite:t}`bhattacharya2022radiotransformer`. This chapter computes every
# control for the split's images, checks the lung masks against the cohort's ground truth,
# and measures how well gaze alone localises a finding: the evidence for the paper's premise
# that gaze carries disease location.
#
# **Prerequisites.** The split of the data-preparation chapter.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
reflacx_root: str = "runs/smoke/cohort/reflacx"  # REFLACX root
egd_cxr_root: str = "runs/smoke/cohort/egd-cxr"  # EGD-CXR root
ground_truth_root: str = "runs/smoke/cohort"  # synthetic cohort root with ground_truth/, or "" for real data
control_size: int = 512  # side of every control image, pixels
canny_low: float = 40.0  # Canny lower hysteresis threshold (authors 40)
canny_high: float = 50.0  # Canny upper hysteresis threshold (authors 50)
gl_sigma: float = 1.0  # sigma of the Laplacian of Gaussian, pixels (authors 1)
hva_sigma_px: float = 64.0  # HVA Gaussian sigma, pixels of a real ~2,544 px radiograph, rescaled with the image (authors 64)
hva_lambda: float = 0.47  # threshold lambda of the HVA map, fraction of its maximum (authors 120 of 255)
lung_unet_weights: str = ""  # path of the lung U-Net weights unet-6v.pt of ref. [70], or "" if absent
pspnet_cache_dir: str = ""  # folder holding TorchXRayVision's PSPNet weights, or "" if absent
sweep_lambdas: list = [0.2, 0.35, 0.5, 0.65, 0.8]  # lambdas of the localisation sweep
sweep_sigmas_px: list = [32.0, 64.0, 128.0]  # sigmas of the localisation sweep, original pixels
n_example_findings: int = 4  # findings shown in the control figure
show_real_images: bool = True  # figures may embed radiographs read from the data roots (full: false, credentialed data; see README)

# %%
import warnings

import cv2
import numpy as np
from IPython.display import display

from radgazegen import data
from radgazegen.controls import control_maps, gaze, localisation
from radgazegen.data import split as split_mod
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner
from radgazegen.figures import controls_figures, glue_figure, image_grid
from radgazegen.synthetic import read_ground_truth

run = Run(run_dir)
size = (control_size, control_size)
display(profile_banner(profile))

# %% [markdown]
# ## The images of the split and their readings
# The split of the previous chapter says which reading (REFLACX or EGD-CXR) provides each
# training image's gaze.

# %%
split = run.read_split()
reflacx, egd = data.read_reflacx(reflacx_root, mimic_cxr_jpg_root), data.read_egd_cxr(egd_cxr_root, mimic_cxr_jpg_root)
records = split_mod.gaze_readings(split, reflacx, egd, "train") + split_mod.gaze_readings(split, reflacx, egd, "test")
print(f"{len(records)} readings of the split's images")

# %% [markdown]
# ## Radiomics maps and lung masks, cached per image
# On the radiograph $I$ resized to the control grid, the three radiomics maps are
#
# $$
# \begin{aligned}
# \mathcal{R}_{\mathrm{Canny}} &= \mathrm{Canny}(I;\, t_{\mathrm{low}}, t_{\mathrm{high}}),\\
# \mathcal{R}_{\mathrm{Sobel}} &= \frac{255\,\lVert \nabla_{S} I \rVert}{\max \lVert \nabla_{S} I \rVert},\\
# \mathcal{R}_{\mathrm{GL}} &= \frac{255\,\lvert \nabla^{2} (G_{\sigma_{\mathrm{GL}}} * I) \rvert}{\max \lvert \nabla^{2} (G_{\sigma_{\mathrm{GL}}} * I) \rvert}
# \end{aligned}
# $$ (eq-02-radiomics)
#
# with the hysteresis thresholds $t_{\mathrm{low}}, t_{\mathrm{high}}$ = `canny_low`,
# `canny_high` ({glue:text}`canny_low:g`, {glue:text}`canny_high:g`, the authors' values),
# $\nabla_{S}$ the 3x3 Sobel gradient and $\sigma_{\mathrm{GL}}$ = `gl_sigma`
# ({glue:text}`gl_sigma:g` px). Each map is computed once per image and parameter set and
# stored under the run directory; later chapters (training, evaluation) read the same files.
# Rad-CN's segmentation control is the lung mask of the paper's segmenter, the U-Net
# {cite}`ronneberger2015unet` of {cite:t}`ovcharenko2019lungseg`, when its weights are given
# (`lung_unet_weights`), else TorchXRayVision's PSPNet {cite}`zhao2017pspnet,cohen2022torchxrayvision`
# (`pspnet_cache_dir`); without either (the `smoke` and `teach` profiles, which have no
# weights), a weight-free Otsu {cite}`otsu1979threshold` + morphology mask stands in, and the
# line below names it.

# %%
caches, fns, seg_name = control_maps.control_caches(run_dir, control_size, canny_low, canny_high, gl_sigma,
                                                    lung_unet_weights, pspnet_cache_dir)
maps = control_maps.cached_controls(records, caches, fns, size)  # control -> dicom id -> (S, S) uint8
run.write_controls(control_maps.control_folders(caches))
print(f"segmentation control: {seg_name} ({profile} profile)")
control_maps.cache_summary(caches)

# %% [markdown]
# ## HVA maps: the whole reading and each finding
# Let $\mathbb{G}$ be the reading's fixations at $(x_f, y_f)$ and $\mathbb{G}^m \subset
# \mathbb{G}$ those that start while finding $m$ is being reported: from
# {glue:text}`lead_s:g` s before the sentence naming it until its word was last said. The
# per-finding HVA map is the fixation count blurred with a Gaussian and scaled to [0, 1],
#
# $$
# \mathcal{V}^m(x, y) = \frac{(G_{\sigma} * F^m)(x, y)}{\max_{x', y'} (G_{\sigma} * F^m)(x', y')},\qquad
# F^m = \sum_{f \in \mathbb{G}^m} \delta_{(x_f, y_f)},
# $$ (eq-02-hva)
#
# and the whole-reading map uses all of $\mathbb{G}$. The Gaussian's $\sigma$ is
# `hva_sigma_px` = {glue:text}`hva_sigma_px:g` px of a real radiograph
# {glue:text}`reference_width` px wide (the authors' value), rescaled with the image:
# {glue:text}`sigma_grid:.1f` px on this run's {glue:text}`control_size` px control grid.
# The binary gaze control thresholds it at $\lambda$ = `hva_lambda` =
# {glue:text}`hva_lambda:g` (§3.2.2):
#
# $$
# \hat{\mathcal{V}}^m(x, y) = \begin{cases} 255 & \text{if } \mathcal{V}^m(x, y) \ge \lambda \\ 0 & \text{otherwise.} \end{cases}
# $$ (eq-02-threshold)

# %%
truth = read_ground_truth(ground_truth_root) if ground_truth_root else None


def findings_of(rec: data.Record):
    """(finding, keywords, box in original pixels): the cohort's ground truth, else REFLACX boxes."""
    return gaze.reading_findings(rec, truth)


# the whole reading's map and each finding's V^m, (S, S) float in [0, 1]; V^m shared with the hypotheses chapter
hva_whole, hva_finding, caught = control_maps.reading_hva_maps(records, findings_of, run_dir, hva_sigma_px, control_size)
print(f"{len(hva_finding)} per-finding maps; {len(caught)} computed empty in this run (no fixation in the finding's window)")
for w in caught[:5]:
    print("  ", w.message)

# %% [markdown]
# ### Exercise: $\mathcal{V}^m$ from fixations
# Write {eq}`eq-02-hva` yourself, for fixation coordinates `xs`, `ys` in pixels of an image
# `image_size` = (width, height): count each fixation once at its pixel of the
# `out_size` = (width, height) grid (coordinates scaled to the grid, rounded down; fixations
# outside the image dropped), blur with a Gaussian whose sigma is `sigma_px` scaled to the grid
# (zero outside the image), and divide by the maximum (all zeros when nothing was fixated). The
# cell after it compares your function with `radgazegen.controls.gaze.hva_map`, the one this chapter
# uses, on fixed fixations, and says in words what differs.

# %% tags=["exercise"]
def hva_from_fixations(xs: np.ndarray, ys: np.ndarray, image_size: tuple[int, int], sigma_px: float,
                       out_size: tuple[int, int]) -> np.ndarray:
    """V^m: ``(out_height, out_width)`` float32 in [0, 1] from fixations at ``(xs, ys)`` (pixels)."""
    ### BEGIN SOLUTION
    (w, h), (ow, oh) = image_size, out_size
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    on_image = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    cols = np.clip((xs[on_image] * ow / w).astype(int), 0, ow - 1)
    rows = np.clip((ys[on_image] * oh / h).astype(int), 0, oh - 1)
    counts = np.zeros((oh, ow), np.float32)
    np.add.at(counts, (rows, cols), 1.0)
    blurred = cv2.GaussianBlur(counts, (0, 0), sigmaX=sigma_px * ow / w, sigmaY=sigma_px * oh / h,
                               borderType=cv2.BORDER_CONSTANT)
    return blurred / blurred.max() if blurred.max() > 0 else blurred
    ### END SOLUTION


# %% tags=["exercise-check"]
from radgazegen.figures import exercises

exercises.check("hva_map", hva_from_fixations);

# %% [markdown]
# ## The controls, side by side (cf. paper Fig. 2A and Fig. 6)
# One row per finding, in two figures: the radiograph with the finding's box and the three
# radiomics maps of {eq}`eq-02-radiomics` ({numref}`fig-02-radiomics`); then the lung mask,
# the per-finding HVA map $\mathcal{V}^m$ of {eq}`eq-02-hva` and its mask
# $\hat{\mathcal{V}}^m$ of {eq}`eq-02-threshold` ({numref}`fig-02-gaze`).

# %%
rows = localisation.finding_rows(records, findings_of)  # (record, (finding, keywords, box)) per finding
examples = localisation.example_findings(rows, hva_finding, n_example_findings)
figures = controls_figures.control_figures(examples, maps, hva_finding, hva_lambda, size, show_real_images)
for key, fig in figures.items():
    glue_figure(key, fig, empty="No finding with a non-empty HVA map in this run.")
glue("n_control_examples", len(examples))

# %% [markdown]
# ```{glue:figure} fig-02-radiomics
# :name: fig-02-radiomics
# :alt: Rows of four panels, one row per finding: a synthetic radiograph with a red finding box, then its Canny edge map, Sobel gradient map and Laplacian-of-Gaussian map.
#
# Rad-CN's radiomics controls for {glue:text}`n_control_examples` findings of the
# {glue:text}`profile` run. Look at how Canny keeps the ribs' and lungs' outlines, Sobel
# their gradients and GL the fine texture, including the texture inside the red finding box.
# ```
#
# ```{glue:figure} fig-02-gaze
# :name: fig-02-gaze
# :alt: Rows of three panels, one row per finding: the lung mask, the per-finding HVA heat map in an inferno colour map, and its thresholded binary mask with the finding's box in red.
#
# The lung mask and the gaze controls of the same findings: the HVA map
# $\mathcal{V}^m$ (bright where the reader dwelt while dictating the finding) and its mask at
# $\lambda$ = {glue:text}`hva_lambda:g`. Look at whether the white mask falls on the red box:
# that overlap is what the localisation sweep below counts.
# ```

# %% [markdown]
# ## Lung masks against the ground truth
# Dice of each available segmentation method against the cohort's ground-truth lung masks
# (only the synthetic cohort has them), $\mathrm{Dice}(P, G) = 2 \lvert P \cap G \rvert /
# (\lvert P \rvert + \lvert G \rvert)$. The weight-free method always runs; the U-Net of
# {cite:t}`ovcharenko2019lungseg` (the paper's segmenter) and TorchXRayVision's PSPNet run when
# their weights are given as parameters.

# %%
methods = control_maps.lung_methods(lung_unet_weights, pspnet_cache_dir)  # name -> (S, S) radiograph -> mask
dice_rows = []
if ground_truth_root:
    dice_rows = control_maps.lung_dice_rows(records, methods, maps["lung"], ground_truth_root, size)
    dice_table = control_maps.dice_table(dice_rows)
    not_run = [m for m in (control_maps.LUNG_UNET, control_maps.PSPNET) if m not in methods]
    display(dice_table.round(3))
    print("not available in this run (no weights given):", ", ".join(not_run) or "none")
else:
    print("No ground-truth lung masks (real data): Dice is not computed.")

# %% [markdown]
# The same methods on a real radiograph ({numref}`fig-02-real`): `RG1_UNCR.dcm`, a PA chest
# radiograph that ships with `pydicom-data` (MONOCHROME1), read as displayed: its window
# (VOI LUT) applied, then inverted.

# %%
from pydicom.data import get_testdata_file

real = cv2.resize(data.load_dicom(get_testdata_file("RG1_UNCR.dcm")), size, interpolation=cv2.INTER_AREA)
glue_figure("fig-02-real", image_grid(
    [real] * (1 + len(methods)), titles=["RG1_UNCR.dcm", *methods], cell=2.3,
    overlays=[None, *[np.ma.masked_equal(fn(real), 0) - 1.0 for fn in methods.values()]],  # lungs 1, 2 -> 0, 1
    overlay_cmap="coolwarm"))

# %% [markdown]
# ```{glue:figure} fig-02-real
# :name: fig-02-real
# :alt: A real chest radiograph shown alone, then with each available lung mask drawn over it in blue and red for the two lungs.
#
# Each available lung segmenter on a real radiograph (the weight-free mask in the
# {glue:text}`profile` profile, the U-Net and PSPNet when their weights are given). Look at
# whether the coloured lungs follow the real lung fields, which the phantoms' Dice above
# cannot tell.
# ```

# %% [markdown]
# ## What gaze alone localises
# For every finding of every reading: threshold its HVA map $\mathcal{V}^m$ at $\lambda$
# by {eq}`eq-02-threshold` and compare the mask $M = \hat{\mathcal{V}}^m > 0$ with the
# finding's box $B$, on the cohort's ground truth (the radiologist's REFLACX boxes on real
# data):
#
# $$
# \mathrm{hit} = \mathbb{1}\left[\,\lvert M \cap B \rvert > 0\,\right],\qquad
# \mathrm{IoU} = \frac{\lvert M \cap B \rvert}{\lvert M \cup B \rvert}.
# $$ (eq-02-hit)
#
# If gaze carries where the disease is (the paper's premise, §3.2.2), hits should be frequent
# for a broad range of $\lambda$ and $\sigma$ ({numref}`fig-02-sweep`).

# %%
warnings.simplefilter("ignore", gaze.EmptyHVAWarning)  # counted above; empty maps are skipped here
sweep = localisation.localisation_sweep(rows, run_dir, sweep_sigmas_px, sweep_lambdas, control_size)
summary = localisation.sweep_summary(sweep)  # mean hit and IoU per (sigma_px, lambda)
fig = controls_figures.sweep_figure(summary)
glue_figure("fig-02-sweep", fig if len(sweep) else None, empty="No finding with gaze in this run.")
n_swept = len(sweep) // max(1, len(sweep_lambdas) * len(sweep_sigmas_px))

# %% [markdown]
# ```{glue:figure} fig-02-sweep
# :name: fig-02-sweep
# :alt: Two line charts against the threshold lambda, one line per Gaussian sigma: on the left the fraction of findings whose gaze mask touches the finding box, on the right the mean IoU of mask and box.
#
# Gaze-only localisation of {glue:text}`n_swept` findings ({glue:text}`n_finding_types`
# finding types, {glue:text}`profile` profile) by the mask of {eq}`eq-02-threshold`: hit
# rate (left) and IoU (right) of {eq}`eq-02-hit` against $\lambda$, one line per $\sigma$.
# Look at how both change with $\lambda$: a larger $\lambda$ keeps a smaller mask, which
# misses the box more often (fewer hits) but, if it still meets it, fits it more tightly.
# ```

# %%
# at this run's own sigma and lambda (the controls HVA-CN is given), per finding type
at_setting = localisation.agreement_at_setting(rows, hva_finding, hva_lambda, size)
at_setting.groupby("finding")[["hit", "iou"]].mean().round(2)

# %%
numbers = {"profile": profile, "canny_low": canny_low, "canny_high": canny_high, "gl_sigma": gl_sigma,
           "hva_sigma_px": hva_sigma_px, "hva_lambda": hva_lambda, "lead_s": gaze.WINDOW_LEAD_S,
           "reference_width": gaze.REFERENCE_WIDTH_PX, "control_size": control_size,
           "sigma_grid": hva_sigma_px * control_size / gaze.REFERENCE_WIDTH_PX, "n_records": len(records),
           "n_finding_maps": len(hva_finding), "n_empty_maps": len(caught), "n_swept": n_swept,
           "dice_weight_free": control_maps.weight_free_dice(dice_rows),
           **localisation.localisation_numbers(sweep, summary, at_setting)}
for name, value in numbers.items():
    glue(name, value)

# %% [markdown]
# ## What this run shows
# Every control the paper uses is computed and cached under `maps/` in the run directory for
# the {glue:text}`n_records` readings of the split: the three radiomics maps, the lung mask
# and {glue:text}`n_finding_maps` per-finding HVA maps, of which {glue:text}`n_empty_maps`
# came out empty. The weight-free lung mask reaches a mean Dice of
# {glue:text}`dice_weight_free:.3f` against the cohort's ground truth. At this run's setting
# ($\sigma$ = {glue:text}`hva_sigma_px:g` px, $\lambda$ = {glue:text}`hva_lambda:g`, the
# table above), the gaze mask touched the finding's box
# for a fraction {glue:text}`hit_at_setting:.2f` of {glue:text}`n_at_setting` findings, with
# a mean IoU of {glue:text}`iou_at_setting:.2f`; the best mean IoU over the sweep is
# {glue:text}`best_iou:.2f`.
#
# ## What it cannot show
# In the {glue:text}`profile` profile the cohort is small and the gaze is simulated to dwell
# on the findings, so the hit rates check the wiring and the measurement, not radiologists:
# on REFLACX's real readings they would measure how much a real radiologist's dwell tells
# about location. The Dice is against drawn lungs, not real lung fields. Next: gaze-guided
# hypotheses (§3.2.2, Fig. 4).
