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
#     upstream: []
# ---

# %% [markdown]
# # The synthetic cohort
#
# **Overview.** The datasets RadGazeGen is trained and evaluated on (MIMIC-CXR, REFLACX,
# EGD-CXR, CheXpert, MIMIC-CXR-LT) are credentialed and cannot be redistributed. This
# chapter generates the study's stand-in: a seeded cohort of chest-radiograph phantoms with
# findings of all 19 MIMIC-CXR-LT classes at known locations, a report per image, and
# simulated radiologists' readings (timed fixations and a time-stamped dictation).
# The cohort is written in the real datasets' layouts and column names, so every later
# chapter reads it with the same readers a user runs on the real data.
#
# **Prerequisites.** None. In the `full` profile this chapter is not run: the data roots
# point at the real releases.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
seed: int = 0  # seed of the cohort generator: the same seed writes byte-identical files
n_mimic: int = 200  # number of MIMIC-CXR-style radiographs (the gaze datasets reuse them)
n_chexpert: int = 40  # number of CheXpert-test-style radiographs (separate patients)
image_width: int = 512  # width of every radiograph, pixels
image_height: int = 512  # height of every radiograph, pixels
cohort_options: dict = {}  # further CohortConfig fields, e.g. {"reflacx_multi_reader_images": 12}
n_example_images: int = 8  # radiographs shown in the gallery below

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from radgazegen.book import profile_banner
from radgazegen.cohort import CohortConfig, generate_cohort, read_ground_truth

cohort_root = Path(run_dir) / "cohort"
display(profile_banner(profile))

# %% [markdown]
# ## Generate
# One call writes the whole cohort. It is skipped when the folder already holds a cohort made
# with the same configuration by the same generator code; otherwise the cohort is rewritten.

# %%
config = CohortConfig(seed=seed, n_mimic=n_mimic, n_chexpert=n_chexpert,
                      image_size=(image_width, image_height), **cohort_options)
summary = generate_cohort(cohort_root, config, progress=False, overwrite=True)
config

# %% [markdown]
# ## What was written
# The folder mirrors the real releases, one sub-folder per dataset; `ground_truth/` holds
# what only a synthetic cohort can give (finding boxes, lung masks).

# %%
files = pd.DataFrame(
    [(p.relative_to(cohort_root).parts[0], p.suffix or p.name) for p in cohort_root.rglob("*") if p.is_file()],
    columns=["dataset folder", "file type"],
)
files.value_counts().rename("files").reset_index().sort_values(["dataset folder", "file type"], ignore_index=True)

# %% [markdown]
# ## A gallery of phantoms
# Each phantom shows anatomy (lungs, heart, mediastinum, diaphragm, ribs, clavicles,
# spine) and its findings; the red boxes are the ground-truth finding locations that the
# later chapters test gaze and generated images against.

# %%
from PIL import Image

truth = read_ground_truth(cohort_root)
images = pd.read_csv(cohort_root / "ground_truth" / "images.csv")
abnormal = images[images["labels"] != "No Finding"].drop_duplicates("labels").head(n_example_images)
cols = 4
rows = max(1, -(-len(abnormal) // cols))
fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.1 * rows), squeeze=False)
for ax, (_, row) in zip(axes.flat, abnormal.iterrows()):
    ax.imshow(Image.open(cohort_root / row["image_path"]), cmap="gray", vmin=0, vmax=255)
    for _, f in truth[truth["dicom_id"] == row["dicom_id"]].iterrows():
        ax.add_patch(plt.Rectangle((f.xmin, f.ymin), f.xmax - f.xmin, f.ymax - f.ymin,
                                   fill=False, edgecolor="red", lw=1.2))
    ax.set_title(row["labels"].replace("|", " + "), fontsize=8)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle(f"Synthetic radiographs with ground-truth finding boxes ({profile} profile, seed {seed})", fontsize=10)
fig.tight_layout()

# %% [markdown]
# ## Summary
# The cohort is a deterministic function of its configuration. The next chapter reads it
# back through the dataset readers and builds the paper's train/test split.

# %%
pd.Series(summary.counts, name="count").to_frame()
