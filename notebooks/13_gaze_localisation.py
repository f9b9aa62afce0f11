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
#     upstream: [01_data_preparation, 07_generation]
# ---

# %% [markdown]
# # Does the finding appear where the gaze put it?
#
# **Overview.** The paper's central claim is that the radiologist's gaze tells the generator
# *where* a finding is ({cite:t}`bhattacharya2024radgazegen`, §4.3, Fig. 5). Real datasets
# cannot test this directly: nobody knows where a finding "should" appear in a generated
# image. The synthetic cohort can: every finding was drawn inside a known box, and the gaze
# control of each test item comes from a reading of that box. So we train a lesion localiser
# on the real training images (ground-truth boxes), run it on every method's generated test
# images, and play the *pointing game* {cite}`zhang2018pointing`: does the localiser's
# strongest response fall inside the box behind the gaze? For test finding $n$ with
# localiser heat map $h_n$ on an $H \times W$ grid and box $B_n$,
#
# $$
# \mathrm{hit}_n = \mathbb{1}\left[ \arg\max_{(u, v)} h_n(u, v) \in B_n \right],\qquad
# \text{hit rate} = \frac{1}{N} \sum_{n=1}^{N} \mathrm{hit}_n,\qquad
# \text{chance} = \frac{1}{N} \sum_{n=1}^{N} \frac{\lvert B_n \rvert}{H W},
# $$ (eq-13-pointing)
#
# since a random point hits with probability equal to the box's area fraction.
#
# If gaze guidance works, methods given the HVA control (HVA-CN, RadGazeGen, the HVA
# ControlNet and adapter) should hit more often than SD and Rad-CN, which never see the gaze.
# The real test images give the localiser's ceiling.
#
# **Prerequisites.** Notebooks 01 and 07, and the cohort's ground truth (`ground_truth_root`);
# on real data this chapter says so and stops.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR reports root
ground_truth_root: str = "runs/smoke/cohort"  # synthetic cohort root with ground_truth/, "" for real data
localiser_epochs: int = 10  # epochs of the lesion localiser
seed: int = 0  # seed of the localiser

# %%

import numpy as np
import pandas as pd
from IPython.display import display
from PIL import Image

from radgazegen import evaluation, methods, metrics, standins, training_data
from radgazegen.artifacts import Run
from radgazegen.intervals import Evidence, save_evidence
from radgazegen.book import glue, profile_banner
from radgazegen.figures import glue_figure, image_grid
from radgazegen.synthetic import read_ground_truth
from radgazegen.vocabulary import HVA

run = Run(run_dir)
display(profile_banner(profile))
if not ground_truth_root:
    print("No ground truth on real data: the localisation test needs the synthetic cohort's lesion boxes.")
gen = evaluation.load_generated(run) if ground_truth_root else None

# %% [markdown]
# ## The localiser, trained on real training images and their lesion boxes

# %%
if gen is not None:
    R = gen.real.shape[1]
    truth = read_ground_truth(ground_truth_root)
    train = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="train")

    def boxes_of(dicom_id: str, finding: str | None = None):
        rows = truth[(truth.dicom_id == dicom_id) & ((truth.label == finding) if finding else True)]
        return [(r.xmin, r.ymin, r.xmax, r.ymax) for r in rows.itertuples()]

    sizes = [Image.open(it.image_path).size for it in train]
    x = np.stack([training_data.read_gray(it.image_path, R, "radiograph") for it in train])
    y = metrics.box_masks([boxes_of(it.dicom_id) for it in train], sizes, R)
    localiser, losses = standins.train_localiser(x, y, epochs=localiser_epochs, size=R, seed=seed)
    print(f"localiser: {len(train)} training images, {int((y.reshape(len(y), -1).max(1) > 0).sum())} with lesions; "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")

# %% [markdown]
# ## Pointing game per method
# The hit rate and chance of {eq}`eq-13-pointing`, per method; "sees the gaze" marks the
# methods given the HVA control.

# %%
if gen is not None:
    ids, findings = gen.manifest["dicom_id"].tolist(), gen.manifest["finding"].tolist()
    test_sizes = {}
    for it in training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="test"):
        test_sizes[it.dicom_id] = Image.open(it.image_path).size
    masks = metrics.box_masks([boxes_of(d, f) for d, f in zip(ids, findings)], [test_sizes[d] for d in ids], R)
    keep = masks.reshape(len(masks), -1).max(1) > 0  # items whose finding has a box
    chance = float(masks[keep].mean()) if keep.any() else float("nan")
    gaze_baselines = [gen.methods.single(f, HVA) for f in (methods.SINGLE_CONTROLNET, methods.T2I_ADAPTER)]
    compared = [methods.SD, methods.RAD_CN, *(m.name for m in gaze_baselines if m is not None), methods.MULTI_CONTROLNET,
                methods.HVA_CN, methods.RADGAZEGEN]
    sees_gaze = {n: "yes" if gen.methods[n].uses_gaze else "no" for n in compared if n in gen.images}
    candidates = {"real test images": [gen.real], **{m: gen.images[m] for m in sees_gaze if m in gen.images}}
    mean, std, cells = {}, {}, {}
    for name, reps in candidates.items():
        hits = np.stack([metrics.pointing_game(localiser.heatmaps(ims[keep]), masks[keep]) for ims in reps])  # (R, N)
        mean[name], std[name] = evaluation.per_replicate(np.mean, list(hits))
        cells[(name, "hit rate")] = Evidence("mean", "higher", values=hits)
    # a random point hits a finding's box with probability its area fraction: chance per finding
    cells[("chance", "hit rate")] = Evidence("mean", "higher", values=masks[keep].mean((1, 2))[None])
    frame = pd.DataFrame({"hit rate": mean, "chance": chance})
    frame["sees the gaze"] = [sees_gaze.get(n, "(real)") for n in frame.index]
    evaluation.save_result(run, "localisation", frame[["hit rate", "chance"]],
                           pd.DataFrame({"hit rate": std, "chance": 0.0}),
                           {"profile": profile, "n_items": int(keep.sum()), "replicates": gen.replicates})
    save_evidence(run.evidence_path("localisation"), cells if keep.any() else {})  # per finding and seed: the claim's interval (chapter 14)
    print(f"{int(keep.sum())} test findings with a box; chance = mean box area fraction; {profile} profile")
    display(frame.round(3))

# %%
if gen is not None and keep.any():
    i = int(np.flatnonzero(keep)[0])
    show = [n for n in ("real test images", methods.SD, methods.RAD_CN, methods.HVA_CN, methods.RADGAZEGEN) if n in candidates]
    ims = [candidates[n][0][i] for n in show]
    ys, xs = np.nonzero(masks[i])
    box = [(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)]
    glue_figure("fig-13-pointing", image_grid(
        [ims, [localiser.heatmaps(im[None])[0] for im in ims]], titles=[show, [""] * len(show)],
        row_labels=["image", "localiser"], boxes=[box] * (2 * len(show)), box_color="cyan",
        cmap=["gray"] * len(show) + ["magma"] * len(show), vlims=[None] * len(show) + [(0, 1)] * len(show),
        cell=6.4 / len(show)))
    glue("example_finding", findings[i])
else:
    glue_figure("fig-13-pointing", None, empty="No test finding with a ground-truth box in this run.")
    glue("example_finding", "(none)")

# %% [markdown]
# ```{glue:figure} fig-13-pointing
# :name: fig-13-pointing
# :alt: Two rows of panels, one column per method: the images (top) and the lesion localiser's heat map on them (bottom), each with a cyan box where the finding behind the gaze is.
#
# The first test finding, {glue:text}`example_finding` ({glue:text}`profile` profile): the
# real image and four methods' images (top), the localiser's response on each (bottom), and in
# cyan the box behind the gaze control. Look at where each heat map peaks: inside the cyan box
# is a hit of {eq}`eq-13-pointing`.
# ```

# %%
nan = float("nan")
glue("profile", profile)
if gen is not None and keep.any():
    gaze_rates = [mean[n] for n in mean if sees_gaze.get(n) == "yes"]
    blind_rates = [mean[n] for n in mean if sees_gaze.get(n) == "no"]
    glue("n_items", int(keep.sum()))
    glue("chance", chance)
    glue("hit_real", float(mean["real test images"]))
    glue("hit_rg", float(mean.get(methods.RADGAZEGEN, nan)))
    glue("hit_sd", float(mean.get(methods.SD, nan)))
    glue("best_gaze", float(max(gaze_rates, default=nan)))
    glue("best_blind", float(max(blind_rates, default=nan)))
    glue("n_gaze_methods", len(gaze_rates))
    glue("n_gaze_above_blind", int(sum(r > max(blind_rates, default=nan) for r in gaze_rates)))
    glue("n_replicates", gen.replicates)
else:
    for name in ("n_items", "n_gaze_methods", "n_gaze_above_blind", "n_replicates"):
        glue(name, 0)
    for name in ("chance", "hit_real", "hit_rg", "hit_sd", "best_gaze", "best_blind"):
        glue(name, nan)

# %% [markdown]
# ## What this run shows
# On {glue:text}`n_items` test findings with a ground-truth box ({glue:text}`n_replicates`
# replicate(s)), the localiser hits {glue:text}`hit_real:.3f` of the real images, against a
# chance of {glue:text}`chance:.3f`. RadGazeGen's images hit {glue:text}`hit_rg:.3f` and SD's
# {glue:text}`hit_sd:.3f`; the best of the {glue:text}`n_gaze_methods` methods that see the
# gaze hits {glue:text}`best_gaze:.3f`, the best of those that do not
# {glue:text}`best_blind:.3f`, and {glue:text}`n_gaze_above_blind` gaze methods are above the
# best blind one. Per-finding hits are saved for chapter 14's interval.
#
# ## What it cannot show
# In the {glue:text}`profile` profile a handful of findings and barely trained generators make
# every rate a coarse estimate; a rate below the real images' may be the localiser's limit,
# not the generator's. The test needs the cohort's ground truth, so it says nothing about
# where real findings appear in images generated from real radiologists' gaze.
