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
# **Overview.** RadGazeGen conditions Stable Diffusion on two kinds of control (§3.2,
# Fig. 2A). Rad-CN sees *radiomics filter maps* of the radiograph (Canny edges, Sobel
# gradient magnitude, the Laplacian of Gaussian "GL") and its *lung mask*; HVA-CN sees a
# *human visual attention* (HVA) map made from where the radiologist looked while
# dictating a finding (§3.2.2). This chapter computes every control for the training
# images, checks the lung masks against the cohort's ground truth, and measures how well
# gaze alone localises a finding: the evidence for the paper's premise that gaze carries
# disease location.
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
sweep_sigmas_px: list = [16.0, 32.0, 64.0]  # sigmas of the localisation sweep, original pixels
n_example_findings: int = 4  # findings shown in the control figure

# %%
import warnings

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from radgazegen.progress import tqdm

from radgazegen import controls, data, gaze, segmentation
from radgazegen import split as split_mod
from radgazegen.artifacts import Run
from radgazegen.book import profile_banner
from radgazegen.cache import FindingHVAMaps, MapCache
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
len(records)

# %% [markdown]
# ## Radiomics maps and lung masks, cached per image
# Each map is computed once per image and parameter set and stored under the run
# directory; later chapters (training, evaluation) read the same files. Rad-CN's
# segmentation control is the lung mask of the paper's segmenter, the U-Net of ref. [70],
# when its weights are given (`lung_unet_weights`), else TorchXRayVision's PSPNet
# (`pspnet_cache_dir`); without either (the `smoke` and `teach` profiles, which have no
# weights), a weight-free Otsu + morphology mask stands in, and the line below names it.

# %%
caches = {
    "canny": MapCache(run_dir, "canny", {"low": canny_low, "high": canny_high, "size": control_size}),
    "sobel": MapCache(run_dir, "sobel", {"size": control_size}),
    "gl": MapCache(run_dir, "gl", {"sigma": gl_sigma, "size": control_size}),
}
seg_name, seg_fn = segmentation.lung_segmenter(lung_unet_weights, pspnet_cache_dir)
caches["lung"] = (MapCache(run_dir, "lung-classical", {"size": control_size, "method": "otsu + opencv morphology"})
                  if seg_fn is segmentation.classical_lung_mask else
                  MapCache(run_dir, "lung", {"size": control_size, "method": seg_name,
                                             "weights": lung_unet_weights or pspnet_cache_dir}))
fns = {  # each takes the radiograph resized to control_size x control_size
    "canny": lambda im: controls.canny(im, canny_low, canny_high, size=None),
    "sobel": lambda im: controls.sobel(im, size=None),
    "gl": lambda im: controls.gaussian_laplace(im, gl_sigma, size=None),
    "lung": seg_fn,
}
maps = {k: {} for k in caches}
for rec in tqdm(records, desc="controls", disable=None):
    loaded = {}

    def radiograph() -> np.ndarray:
        if "image" not in loaded:
            loaded["image"] = cv2.resize(data.load_image(rec), size, interpolation=cv2.INTER_AREA)
        return loaded["image"]

    for kind, cache in caches.items():
        maps[kind][rec.dicom_id] = cache.get(rec.dicom_id, lambda kind=kind: fns[kind](radiograph()))
run.write_controls({("segmentation" if k == "lung" else k): c.dir for k, c in caches.items()})
print(f"segmentation control: {seg_name} ({profile} profile)")
pd.DataFrame({k: {"computed": c.misses, "reused from cache": c.hits, "folder": c.dir.name}
              for k, c in caches.items()}).T

# %% [markdown]
# ## HVA maps: the whole reading and each finding
# The whole-reading map accumulates every fixation; the per-finding map V^m keeps only the
# fixations made from 1.5 s before the sentence naming the finding until its word was last
# said (§3.2.2). Both are blurred with a Gaussian of sigma = `hva_sigma_px` pixels of a real
# ~2,544 px radiograph, rescaled with the image (12.9 px on a 512 px one, as 64 px on a real
# one), and normalised to [0, 1]; V^m >= lambda gives the binary gaze control.

# %%
truth = read_ground_truth(ground_truth_root) if ground_truth_root else None


def findings_of(rec: data.Record):
    """(finding, keywords, box in original pixels): the cohort's ground truth, else REFLACX boxes."""
    return gaze.reading_findings(rec, truth)


def to_control(box, rec) -> tuple[float, float, float, float]:
    return gaze.box_to_grid(box, rec.image_size, size)


whole = MapCache(run_dir, "hva-reading", {"sigma_px": hva_sigma_px, "size": control_size,
                                           "reference_width_px": gaze.REFERENCE_WIDTH_PX}, fmt="npz")
per_finding = FindingHVAMaps(run_dir, hva_sigma_px, control_size)  # V^m, shared with the hypotheses chapter
hva_whole, hva_finding = {}, {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", gaze.EmptyHVAWarning)
    for rec in tqdm(records, desc="HVA maps", disable=None):
        hva_whole[rec.dicom_id] = whole.get(rec.dicom_id, lambda: gaze.hva_map(
            rec.fixations, rec.image_size, sigma_px=gaze.at_image_scale(hva_sigma_px, rec.image_size[0]),
            out_size=size, where=f"reading {rec.reading_id}"))
        for name, keys, box in findings_of(rec):
            hva_finding[rec.dicom_id, name] = per_finding(rec, name, keys)
caught = [w for w in caught if issubclass(w.category, gaze.EmptyHVAWarning)]
print(f"{len(hva_finding)} per-finding maps; {len(caught)} computed empty in this run (no fixation in the finding's window)")
for w in caught[:5]:
    print("  ", w.message)

# %% [markdown]
# ## The controls, side by side (cf. paper Fig. 2A and Fig. 6)
# One row per finding: the radiograph with the finding's box, the three radiomics maps, the
# lung mask, the per-finding HVA map and its thresholded mask (lambda = `hva_lambda`).

# %%
rows = [(rec, f) for rec in records for f in findings_of(rec)]
seen, examples = set(), []
for rec, f in rows:
    if f[0] not in seen and (rec.dicom_id, f[0]) in hva_finding and hva_finding[rec.dicom_id, f[0]].any():
        seen.add(f[0])
        examples.append((rec, f))
examples = examples[:n_example_findings]
cols = ["radiograph", "Canny", "Sobel", "GL", "lung mask", "HVA map V^m", f"HVA mask (lambda={hva_lambda})"]
radiomics, gaze_panels, finding_boxes = [], [], []
for rec, (name, keys, box) in examples:
    image = cv2.resize(data.load_image(rec), size, interpolation=cv2.INTER_AREA)
    v = hva_finding[rec.dicom_id, name]
    radiomics.append([image, maps["canny"][rec.dicom_id], maps["sobel"][rec.dicom_id], maps["gl"][rec.dicom_id]])
    gaze_panels.append([maps["lung"][rec.dicom_id] * 127, v, gaze.threshold(v, hva_lambda)])
    finding_boxes.append([to_control(box, rec)])
if not examples:
    print("No finding with a non-empty HVA map in this run.")
else:  # seven columns: in two figures (radiomics, then lung and gaze), one row per finding
    from radgazegen.figures import image_grid

    for part, panels, box_col, cmaps in (("radiomics maps", radiomics, 0, "gray"),
                                         ("lung mask and gaze", gaze_panels, 2, ["gray", "inferno", "gray"] * len(examples))):
        heads = cols[:4] if box_col == 0 else cols[4:]
        image_grid(panels, titles=[heads if r == 0 else [""] * len(heads) for r in range(len(panels))],
                   boxes=[b if c == box_col else None for b in finding_boxes for c in range(len(heads))],
                   cmap=cmaps, row_labels=[name for _, (name, _, _) in examples], cell=1.7,
                   suptitle=f"Controls of the training images: {part} ({profile} profile)")

# %% [markdown]
# ## Lung masks against the ground truth
# Dice of each available segmentation method against the cohort's ground-truth lung masks
# (only the synthetic cohort has them). The weight-free method always runs; the U-Net of
# ref. [70] and TorchXRayVision's PSPNet run when their weights are given as parameters.

# %%
methods = {"weight-free (Otsu + morphology)": lambda im: segmentation.classical_lung_mask(im)}
if lung_unet_weights:
    unet = segmentation.load_lung_unet(lung_unet_weights)
    methods["lung U-Net [70]"] = lambda im: segmentation.unet_lung_mask(unet, im)
if pspnet_cache_dir:
    methods["TorchXRayVision PSPNet"] = lambda im: segmentation.pspnet_lung_mask(im, pspnet_cache_dir)
dice_rows = []
if ground_truth_root:
    from radgazegen.synthetic import load_lung_mask

    for rec in records:
        gt = cv2.resize(load_lung_mask(ground_truth_root, rec.dicom_id), size, interpolation=cv2.INTER_NEAREST)
        image = cv2.resize(data.load_image(rec), size, interpolation=cv2.INTER_AREA)
        for name, fn in methods.items():
            mask = maps["lung"][rec.dicom_id] if name.startswith("weight-free") else fn(image)
            dice_rows.append({"method": name, "dice": segmentation.dice(mask, gt)})
    dice_table = pd.DataFrame(dice_rows).groupby("method")["dice"].describe()[["count", "mean", "std", "min"]]
    not_run = [m for m in ("lung U-Net [70]", "TorchXRayVision PSPNet") if m not in methods]
    display(dice_table.round(3))
    print("not available in this run (no weights given):", ", ".join(not_run) or "none")
else:
    print("No ground-truth lung masks (real data): Dice is not computed.")

# %% [markdown]
# The same methods on a real radiograph: `RG1_UNCR.dcm`, a PA chest radiograph that ships
# with `pydicom-data` (MONOCHROME1), read as displayed: its window (VOI LUT) applied, then inverted.

# %%
from pydicom.data import get_testdata_file

real = cv2.resize(data.load_dicom(get_testdata_file("RG1_UNCR.dcm")), size, interpolation=cv2.INTER_AREA)
from radgazegen.figures import image_grid

image_grid([real] * (1 + len(methods)), titles=["RG1_UNCR.dcm", *methods], cell=2.3,
           overlays=[None, *[np.ma.masked_equal(fn(real), 0) - 1.0 for fn in methods.values()]],  # lungs 1, 2 -> 0, 1
           overlay_cmap="coolwarm");

# %% [markdown]
# ## What gaze alone localises
# For every finding of every training reading: threshold its HVA map V^m at lambda and
# compare the mask with the finding's box, on the cohort's ground truth (the radiologist's
# REFLACX boxes on real data). *Hit*: the mask touches the box; *IoU*: overlap of the mask
# with the filled box. If gaze carries where the disease is (the paper's premise, §3.2.2),
# hits should be frequent for a broad range of lambda and sigma.

# %%
sweep = []
warnings.simplefilter("ignore", gaze.EmptyHVAWarning)  # counted above; empty maps are skipped here
for sigma in sweep_sigmas_px:
    finding_maps = FindingHVAMaps(run_dir, sigma, control_size)
    for rec, (name, keys, box) in rows:
        v = finding_maps(rec, name, keys)
        if not v.any():
            continue
        for lam in sweep_lambdas:
            hit, iou = gaze.box_agreement(gaze.threshold(v, float(lam)), to_control(box, rec))
            sweep.append({"sigma_px": sigma, "lambda": lam, "finding": name, "hit": hit, "iou": iou})
sweep = pd.DataFrame(sweep)
summary = sweep.groupby(["sigma_px", "lambda"])[["hit", "iou"]].mean()
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for sigma, part in summary.groupby(level=0):
    axes[0].plot(part.index.get_level_values(1), part["hit"], "o-", label=f"sigma {sigma:g} px")
    axes[1].plot(part.index.get_level_values(1), part["iou"], "o-", label=f"sigma {sigma:g} px")
axes[0].set(xlabel="lambda", ylabel="fraction of findings hit", ylim=(0, 1.05))
axes[1].set(xlabel="lambda", ylabel="mean IoU with the finding box", ylim=(0, 1.05))
axes[0].legend(fontsize=8, frameon=False)
fig.suptitle(f"Gaze-only localisation of {sweep.groupby(['finding']).ngroups} finding types, "
             f"{len(sweep) // max(1, len(sweep_lambdas) * len(sweep_sigmas_px))} findings ({profile} profile)", fontsize=10)
fig.tight_layout()

# %%
sweep[(sweep.sigma_px == hva_sigma_px) & (sweep["lambda"] == hva_lambda)].groupby("finding")[["hit", "iou"]].mean().round(2)

# %% [markdown]
# ## Summary
# Every control the paper uses is computed and cached under `maps/` in the run directory.
# The lung-mask table and the localisation sweep are this run's numbers; in `smoke` the
# cohort is tiny and the gaze is simulated to dwell on findings, so they check the wiring
# and the measurement, not radiologists. Next: gaze-guided hypotheses (§3.2.2, Fig. 4).
