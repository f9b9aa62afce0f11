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
#   radgazegen:
#     upstream: [01_data_preparation, 02_control_maps]
# ---

# %% [markdown]
# # Gaze-guided hypotheses
#
# **Overview.** HVA-CN is not trained on the raw gaze heat map but on a *hypothesis*: a
# radiograph of the same disease seen through the radiologist's gaze
# ({cite:t}`bhattacharya2024radgazegen`, §3.2.2, Fig. 2.C.1, Fig. 4). For a finding $k$ the
# radiologist reported, the per-finding HVA map $\mathcal{V}^k$ of the control-maps chapter
# is thresholded at $\lambda$ into a mask $\hat{\mathcal{V}}^k$; every image of a bag
# $\mathbb{B}^k$ of training radiographs labelled $k$ is ANDed with the mask, giving
# hypotheses $\mathcal{H}^k_j$; the hypothesis whose features stay closest to its source
# image's, by the score $\mathcal{D}(f_{\mathbb{B}}, f_{\mathcal{H}})$, is selected as the
# gaze control $\beta^k$.
#
# On the synthetic cohort we know where every finding is, so we can ask what the paper
# cannot: does the selected hypothesis come from an image whose finding lies under the gaze?
#
# **Prerequisites.** The split (data preparation) and the per-finding HVA maps (control maps).

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
reflacx_root: str = "runs/smoke/cohort/reflacx"  # REFLACX root
egd_cxr_root: str = "runs/smoke/cohort/egd-cxr"  # EGD-CXR root
mimic_lt_root: str = "runs/smoke/cohort/mimic-cxr-lt"  # MIMIC-CXR-LT root: the labels of the bags
ground_truth_root: str = "runs/smoke/cohort"  # synthetic cohort root with ground_truth/, or "" for real data
control_size: int = 512  # side of every control image, pixels
hva_sigma_px: float = 64.0  # HVA Gaussian sigma, pixels of a real ~2,544 px radiograph, rescaled with the image (authors 64)
hva_lambda: float = 0.47  # threshold lambda of V^k (authors: 120 of 255)
mask_dilate_px: int = 100  # side of the dilation kernel, pixels of a real radiograph, rescaled as sigma (authors 100; 0 none)
mask_dilate_iterations: int = 3  # dilation iterations (authors 3)
n_bag: int = 5  # images per bag B^k (authors: up to 5)
xrv_weights_dir: str = ""  # folder with TorchXRayVision DenseNet weights, or "" to train the study encoder
encoder_epochs: int = 8  # epochs of the study encoder (when TorchXRayVision weights are absent)
encoder_size: int = 128  # input side of the study encoder, pixels
encoder_max_images: int = 5000  # at most this many training images for the study encoder
seed: int = 0  # seed of the bags and the encoder
n_example_findings: int = 3  # findings shown in the Fig. 4 analogue
show_real_images: bool = True  # figures may embed radiographs read from the data roots (full: false, credentialed data; see README)

# %%
import numpy as np
import pandas as pd
from IPython.display import display
from radgazegen.core.progress import tqdm

from radgazegen import data, standins
from radgazegen.controls import cache, gaze, hypotheses, hypothesis_steps
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner
from radgazegen.figures import controls_figures, glue_figure
from radgazegen.synthetic import read_ground_truth
from radgazegen.core.labels import MIMIC_LT_CLASSES

run = Run(run_dir)
size = (control_size, control_size)
rng = np.random.default_rng(seed)
display(profile_banner(profile))

# %% [markdown]
# ## Training readings, training images and their labels
# The readings are the split's gaze images (training and test: the test images' gaze
# controls are the inputs of generation). The bags are drawn from all training radiographs
# of MIMIC-CXR-LT {cite}`holste2022mimiclt` (each labelled with one class), excluding the
# test images.

# %%
split = run.read_split()
reflacx, egd = data.read_reflacx(reflacx_root, mimic_cxr_jpg_root), data.read_egd_cxr(egd_cxr_root, mimic_cxr_jpg_root)
readings, reading_split = hypothesis_steps.readings_by_split(split, reflacx, egd)  # train then test; id -> split
lt, lt_label, lt_record, bags = hypothesis_steps.training_labels(data.read_mimic_lt(mimic_lt_root, mimic_cxr_jpg_root), split)
truth = read_ground_truth(ground_truth_root) if ground_truth_root else None
radiograph = hypothesis_steps.training_radiographs(lt_record, size)  # dicom id -> (S, S) uint8, cached
pd.Series({k: len(v) for k, v in bags.items()}, name="training images (bag candidates)").to_frame()

# %% [markdown]
# ## Image features for $\mathcal{D}(f_{\mathbb{B}}, f_{\mathcal{H}})$
# The authors compare TorchXRayVision {cite}`cohen2022torchxrayvision` DenseNet-121
# {cite}`huang2017densenet` `features2` vectors. Without those weights (no download here)
# the study trains a small encoder on the training images' labels instead; every result
# below names the features it used.

# %%
if xrv_weights_dir:
    extractor = hypotheses.XRVFeatures(xrv_weights_dir)
else:
    ids = sorted(lt_label)
    if len(ids) > encoder_max_images:
        ids = sorted(rng.choice(ids, encoder_max_images, replace=False))
    targets = np.array([[lt_label[d] == k for k in MIMIC_LT_CLASSES] for d in ids], np.float32)
    images = np.stack([radiograph(d) for d in tqdm(ids, desc="encoder images", disable=None)])
    model, losses = standins.train_study_encoder(images, targets, epochs=encoder_epochs, seed=seed,
                                                 size=encoder_size, progress=True)
    model.save(run.path("study_encoder"))
    extractor = hypotheses.StudyFeatures(model)
    print(f"study encoder: {len(ids)} images, BCE {losses[0]:.3f} (epoch 1) -> {losses[-1]:.3f} (epoch {len(losses)})")
print("features:", extractor.name)

# %% [markdown]
# ## Hypotheses for every reported finding
# Findings of a reading: the cohort's ground truth here; on the real data, REFLACX's
# radiologist boxes, and for EGD-CXR (which has no boxes) the image's positive CheXpert
# labels, whose per-finding map comes from the word-level transcript in the same way
# (`gaze.reading_findings`). For each finding $k$ of each reading (training and test
# images), with $\lambda$ = `hva_lambda` and the authors' dilation $\oplus K$ (a square of
# `mask_dilate_px` pixels of a real radiograph, scaled to the control grid,
# `mask_dilate_iterations` times), a bag $\mathbb{B}^k = \{\mathbb{B}^k_1, \dots,
# \mathbb{B}^k_n\}$ of $n$ = `n_bag` other training images labelled $k$, and features $f$:
#
# $$
# \begin{gathered}
# \hat{\mathcal{V}}^k = \mathbb{1}\left[\mathcal{V}^k \ge \lambda\right] \oplus K,\qquad
# \mathcal{H}^k_j = \mathbb{B}^k_j \wedge \hat{\mathcal{V}}^k,\\
# \mathcal{D}_j = \mathcal{D}(f_{\mathbb{B}}, f_{\mathcal{H}})_j
#   = \frac{f(\mathbb{B}^k_j) \cdot f(\mathcal{H}^k_j)}{\lVert f(\mathbb{B}^k_j) \rVert \, \lVert f(\mathcal{H}^k_j) \rVert},\\
# \beta^k = \mathcal{H}^k_{j^*},\ \ j^* = \arg\max_j \mathcal{D}_j.
# \end{gathered}
# $$ (eq-03-hypothesis)
#
# The paper calls $\mathcal{D}$ a distance and selects "the hypothesis with the maximum
# similarity score"; the study scores by cosine similarity, so the largest $\mathcal{D}_j$
# is selected. The selected $\beta^k$ is stored as the HVA-CN control.
#
# Two checks against the cohort's ground truth:
# - **located**: the selected image's finding-$k$ box meets the gaze mask. *Chance* is the
#   same rate for a bag image picked at random.
# - **mixed bag**: one image labelled $k$ among $n - 1$ of other classes: how often the
#   selection picks the image labelled $k$ (chance $1/n$).

# %%
hva_maps = cache.FindingHVAMaps(run_dir, hva_sigma_px, control_size)  # V^k, shared with the control-maps chapter
# the selected hypotheses, and the dilated gaze masks (chapter 06's Eq. 5 control, chapter 13's primary test)
hyp_cache, mask_cache = hypothesis_steps.hypothesis_caches(run_dir, hva_sigma_px, control_size, hva_lambda, mask_dilate_px,
                                                           mask_dilate_iterations, n_bag, seed, extractor.name)


def box_of(dicom_id: str, finding: str, image_size) -> tuple | None:
    return gaze.finding_box(truth, dicom_id, finding, image_size, size)


def located(dicom_id: str, finding: str, mask: np.ndarray) -> float:
    """1 when the training image's finding box meets the gaze mask, 0 when not, NaN without a box."""
    return hypothesis_steps.located(box_of(dicom_id, finding, lt_record[dicom_id].image_size), mask)


setting = hypothesis_steps.HypothesisSetting(hva_lambda, mask_dilate_px, mask_dilate_iterations, n_bag, seed)
rows, selections, skipped = hypothesis_steps.select_for_readings(
    readings, reading_split, truth, hva_maps, lt_label, radiograph, extractor, located, hyp_cache, mask_cache, setting)
table = pd.DataFrame(rows)
run.write_hypotheses(table)
print(f"{len(table)} hypotheses selected and stored in {hyp_cache.dir.name}/; skipped: {skipped}")

# %% [markdown]
# ### Exercise: selecting the hypothesis by $\mathcal{D}(f_{\mathbb{B}}, f_{\mathcal{H}})$
# Given the features of a bag's images `f_bag` (one row per image) and of their hypotheses
# `f_hyp` (row $i$: image $i$ masked by the gaze), return the index of the hypothesis the
# paper selects: the one most similar to its own image, by the cosine similarity
# $\mathcal{D}$. The check compares your choice with the package's
# (`radgazegen.controls.hypotheses.cosine_scores`, then the largest) and says in words what differs;
# it knows the authors' released script's choice (the largest MSE) when you make it.

# %% tags=["exercise"]
def select_best_hypothesis(f_bag: np.ndarray, f_hyp: np.ndarray) -> int:
    """Index i maximising D(f_bag[i], f_hyp[i]) (cosine similarity); f_bag, f_hyp: ``(N, F)``."""
    ### BEGIN SOLUTION
    a = f_bag / np.linalg.norm(f_bag, axis=1, keepdims=True)
    b = f_hyp / np.linalg.norm(f_hyp, axis=1, keepdims=True)
    return int(np.argmax((a * b).sum(axis=1)))
    ### END SOLUTION


# %% tags=["exercise-check"]
from radgazegen.figures import exercises

exercises.check("hypothesis", select_best_hypothesis);

# %% [markdown]
# ## Hypotheses, as in Fig. 4
# For a few findings, in two figures: the read image with its gaze mask and the HVA map
# $\mathcal{V}^k$ ({numref}`fig-03-gaze`); then the bag images and their hypotheses with the
# score $\mathcal{D}_j$ of {eq}`eq-03-hypothesis` ({numref}`fig-03-bags`).

# %%
examples = hypothesis_steps.hypothesis_examples(selections, n_example_findings)  # the first of each finding
# the gaze: per finding, the read image with the mask over it, and V^k
glue_figure("fig-03-gaze", controls_figures.hypothesis_gaze_figure(examples, size, show_real_images),
            empty="No hypotheses to show in this run.")
# the bags: per finding, a row of bag images B^k_j (ground-truth boxes in red) and a row of their
# hypotheses H^k_j with D_j; the selected one framed in green
glue_figure("fig-03-bags", controls_figures.bags_figure(
    examples, radiograph, lambda d, finding: box_of(d, finding, lt_record[d].image_size), show_real_images),
    empty="No hypotheses to show in this run.")
glue("n_fig_findings", len(examples))
glue("features", extractor.name)

# %% [markdown]
# ```{glue:figure} fig-03-gaze
# :name: fig-03-gaze
# :alt: One row per finding: a radiograph with its binary gaze mask shaded over it, and the per-finding HVA heat map.
#
# The gaze behind {glue:text}`n_fig_findings` findings ({glue:text}`profile` profile): the
# read image with the dilated mask $\hat{\mathcal{V}}^k$ shaded, and the HVA map
# $\mathcal{V}^k$ it was thresholded from. Look at where the mask sits: every hypothesis of
# the next figure keeps only that region.
# ```
#
# ```{glue:figure} fig-03-bags
# :name: fig-03-bags
# :alt: For each finding, a row of bag radiographs with red ground-truth boxes, and below it a row of the same radiographs masked to the gaze region, each titled with its score; the selected one has a green frame and title.
#
# The bags $\mathbb{B}^k$ of the same findings (top row of each pair, red: the bag image's
# own finding box) and their hypotheses $\mathcal{H}^k_j$ with the score $\mathcal{D}_j$
# (bottom row); the selected $\beta^k$ is framed in green. Features:
# {glue:text}`features`. Look at whether the green hypothesis is the one whose red box falls
# inside the kept region: that is the "located" check below.
# ```

# %% [markdown]
# ## Does the selected hypothesis carry the right finding?
# Red boxes above are the cohort's ground truth. Per finding: how often the selected
# image's finding lies under the gaze mask, against picking a bag image at random; and how
# often a mixed bag's selection is the image labelled k, against chance.

# %%
overall, per_finding = hypothesis_steps.selection_rates(table)  # means of the checks; per finding, then all
if table.empty:
    print("No hypotheses in this run (no finding had both gaze and a bag).")
    glue_figure("fig-03-rates", None, empty="No hypotheses in this run.")
else:
    display(per_finding.round(2))
    glue_figure("fig-03-rates", controls_figures.rates_figure(overall))

# %% [markdown]
# ```{glue:figure} fig-03-rates
# :name: fig-03-rates
# :alt: A bar chart with two groups, located and mixed bag, each comparing the rate of the selection by the score with the rate of a random pick from the bag.
#
# The selection by $\mathcal{D}$ against a random pick, over {glue:text}`n_hypotheses`
# hypotheses ({glue:text}`profile` profile). Look at whether the coloured bars stand above
# the grey ones: only then does the score pick the image whose finding is under the gaze.
# ```

# %% [markdown]
# ## The authors' released selection, beside the paper's
# The paper selects the hypothesis most similar to its bag image (the largest
# $\mathcal{D}_j$ of {eq}`eq-03-hypothesis`). The authors' released script does otherwise:
# it compares the gaze *heat map* with each masked candidate by the MSE of their features,
# keeps the candidate with the **largest** MSE (the least similar), and returns the dilated
# gaze mask itself as HVA-CN's control, whatever it picked. On the same findings, bags and
# features: how often the two rules pick the same image, and how often each pick's finding
# lies under the gaze mask. The study's chapters use the paper's rule.

# %%
released = pd.DataFrame(columns=["finding", "same pick", "paper's pick located", "released pick located"])
if not selections:
    print("No hypotheses in this run.")
else:
    released = hypothesis_steps.released_comparison(selections, radiograph, extractor, located)
    display(released.drop(columns="finding").mean().rename(f"mean over {len(released)} findings ({profile})")
            .to_frame().T.round(2))

# %%
nan = float("nan")
glue("profile", profile)
glue("n_hypotheses", len(table))
glue("n_readings", len(readings))
glue("n_skipped_empty", skipped["empty HVA map"])
glue("n_skipped_bag", skipped["bag too small"])
glue("n_bag", n_bag)
glue("located", float(overall["located"]) if overall is not None else nan)
glue("located_chance", float(overall["located_chance"]) if overall is not None else nan)
glue("mixed_right", float(overall["mixed_right"]) if overall is not None else nan)
glue("mixed_chance", float(overall["mixed_chance"]) if overall is not None else nan)
glue("same_pick", float(released["same pick"].mean()) if len(released) else nan)
glue("released_located", float(released["released pick located"].mean()) if len(released) else nan)

# %% [markdown]
# ## What this run shows
# Every reported finding with gaze now has a selected hypothesis: {glue:text}`n_hypotheses`
# of them from {glue:text}`n_readings` readings, stored under `maps/` and listed in
# `03_hypotheses/hypotheses.csv`; {glue:text}`n_skipped_empty` findings were skipped for an
# empty HVA map and {glue:text}`n_skipped_bag` for a bag too small. With bags of up to
# {glue:text}`n_bag` images and features from {glue:text}`features`, the selected image's
# finding lay under the gaze mask for a fraction {glue:text}`located:.2f` of the findings
# (a random pick: {glue:text}`located_chance:.2f`), and in mixed bags the selection picked the
# image labelled $k$ a fraction {glue:text}`mixed_right:.2f` of the time (chance
# {glue:text}`mixed_chance:.2f`). The authors' released rule picked the same image a fraction
# {glue:text}`same_pick:.2f` of the time, and its pick was located
# {glue:text}`released_located:.2f` of the time. HVA-CN trains on these controls.
#
# ## What it cannot show
# In the {glue:text}`profile` profile the cohort is tiny and the encoder barely trained, so
# these rates check the wiring, not whether selection beats chance; the `teach` profile is
# sized to show that, and only with TorchXRayVision's features (`full`) do the scores mean
# what the authors' do. Nothing here says whether a hypothesis is a better control than the
# gaze mask itself: the training and evaluation chapters test the model that uses it.
