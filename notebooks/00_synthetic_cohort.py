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
# **Overview.** The datasets RadGazeGen is trained and evaluated on, MIMIC-CXR
# {cite}`johnson2019mimiccxr`, REFLACX {cite}`lanfredi2022reflacx`, EGD-CXR
# {cite}`karargyris2021egd`, CheXpert {cite}`irvin2019chexpert` and MIMIC-CXR-LT
# {cite}`holste2022mimiclt`, are credentialed and cannot be redistributed
# {cite}`bhattacharya2024radgazegen`. This chapter generates the study's stand-in: a seeded
# cohort of chest-radiograph phantoms with findings of every MIMIC-CXR-LT class at known
# locations, a report per image, and simulated radiologists' readings (timed fixations and a
# time-stamped dictation). The cohort is written in the real datasets' layouts and column
# names, so every later chapter reads it with the same readers a user runs on the real data.
#
# **Prerequisites.** None. In the `full` profile this chapter is not run: the data roots
# point at the real releases.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
seed: int = 0  # seed of the cohort generator: the same seed writes byte-identical files
n_mimic: int = 120  # number of MIMIC-CXR-style radiographs (the gaze datasets reuse them)
n_chexpert: int = 12  # number of CheXpert-test-style radiographs (separate patients)
image_width: int = 512  # width of every radiograph, pixels
image_height: int = 512  # height of every radiograph, pixels
cohort_options: dict = {'reflacx_multi_reader_images': 10, 'focal_boost': 5.0}  # further CohortConfig fields, e.g. {"reflacx_multi_reader_images": 12}
n_example_images: int = 8  # radiographs shown in the gallery below

# %%

import pandas as pd
from IPython.display import display

from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner
from radgazegen.synthetic import CohortConfig, generate_cohort, read_ground_truth, truth_boxes

run = Run(run_dir)
cohort_root = run.path("cohort")
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
# ## The real releases' conventions
# The readers of chapter 01 are the ones users run on the real files, so the cohort must
# follow the releases' value conventions, not only their layouts (checked against the
# datasets' documentation and their maintainers' public code):
#
# - **EGD-CXR.** The radiograph was shown fitted on a 1920x1080 screen; the
#   `image_{top,bottom,left,right}_pad` columns are *screen* pixels around it, and
#   `X_ORIGINAL = int(W / (1920 - left - right) * (FPOGX * 1920 - left))` (likewise `Y`),
#   -1 off the shown image. Each image is exactly one of the Normal / CHF / pneumonia cases;
#   `dx1..dx9`, `dx1_icd..dx9_icd`, `normal_reports`, `anchor_age` as a range ("60 - 70");
#   the `__chx` columns copy the image's MIMIC-CXR CheXpert labels. Transcripts are
#   word-level speech-to-text, one word per phrase in most phrases.
# - **REFLACX.** `timestamps_transcription.csv` keeps the case of the dictation and "." and
#   "," as tokens of their own; sentence boundaries (the per-finding window of §3.2.2) come
#   from those tokens. `window_width` / `window_level` are fractions of [0, 1]. Reading ids
#   are `P<phase><trial>R<digits>` in the metadata file of their phase. Discarded eye
#   tracking occurs in phases 1-2 only, and such a reading keeps only its labels and
#   ellipses. The set-up is a 3840x2160 screen, and `gaze.csv` has the release's 16
#   columns. On the multi-reader images the five readers disagree: each may miss a finding.
# - **MIMIC-CXR-JPG.** `StudyDate` is a valid date in MIMIC's shifted future years and
#   `StudyTime` a valid `HHMMSS.fff`; labels are written 1.0 / 0.0 / -1.0 / blank.
# - **CheXpert test.** Patients 64741-65240, labels 0 / 1 as the maintainers' files write them.
# - **MIMIC-CXR-LT.** Columns in the public files' order: ids and path, the 14 CheXpert
#   labels alphabetically, then the five added classes.
#
# Radiographs are 512 px by default, for speed; `cohort_options={"real_sizes": True}` writes
# them at real sizes (about 2500x3000, varying aspect), which the tests run the readers and
# the maps on. The table counts, on this run's cohort, how many items obey each convention.

# %%
from radgazegen.synthetic.checks import convention_checks

checks = convention_checks(cohort_root)
checks

# %% [markdown]
# ## A gallery of phantoms
# Each phantom shows anatomy (lungs, heart, mediastinum, diaphragm, ribs, clavicles, spine)
# and its findings; the red boxes are the ground-truth finding locations that the later
# chapters test gaze and generated images against ({numref}`fig-00-gallery`).

# %%
from PIL import Image

from radgazegen.figures import glue_figure, image_grid

truth = read_ground_truth(cohort_root)
images = pd.read_csv(cohort_root / "ground_truth" / "images.csv")
abnormal = images[images["labels"] != "No Finding"].drop_duplicates("labels").head(n_example_images)
glue_figure("fig-00-gallery", image_grid(
    [Image.open(cohort_root / row["image_path"]) for _, row in abnormal.iterrows()],
    titles=[row["labels"].replace("|", " + ") for _, row in abnormal.iterrows()],
    boxes=[truth_boxes(truth, row["dicom_id"]) for _, row in abnormal.iterrows()],
    ncols=4, cell=1.75) if len(abnormal) else None, empty="No phantom with a finding in this run.")
glue("n_gallery", len(abnormal))
glue("seed", seed)

# %% [markdown]
# ```{glue:figure} fig-00-gallery
# :name: fig-00-gallery
# :alt: A grid of synthetic chest radiographs, each titled with its findings, with red rectangles around the places where the findings were drawn.
#
# Synthetic radiographs of the {glue:text}`profile` cohort (seed {glue:text}`seed`), the first
# {glue:text}`n_gallery` with distinct finding sets. Look at where the red ground-truth boxes
# sit: inside the lungs or over the heart, where the later chapters expect the gaze and the
# generated findings to be.
# ```

# %% [markdown]
# ## What was generated

# %%
counts = pd.Series(summary.counts, name="count")
counts.to_frame()

# %%
glue("profile", profile)
glue("n_mimic", int(counts.get("mimic_cxr_images", 0)))
glue("n_chexpert", int(counts.get("chexpert_test_images", 0)))
glue("n_findings", int(counts.get("findings", 0)))
glue("n_readings", int(counts.get("reflacx_readings", 0)))
glue("n_egd", int(counts.get("egd_cxr_images", 0)))
glue("n_multi", int(counts.get("reflacx_multi_reader_images", 0)))
glue("n_conventions", len(checks))
glue("n_conventions_held", int((checks["items"] == checks["obeying"]).sum()))
glue("n_items_checked", int(checks["items"].sum()))
glue("image_side", f"{image_width}x{image_height}")

# %% [markdown]
# ## What this run shows
# The {glue:text}`profile` run wrote {glue:text}`n_mimic` MIMIC-CXR-style radiographs of
# {glue:text}`image_side` pixels with {glue:text}`n_findings` ground-truth findings,
# {glue:text}`n_readings` REFLACX-style readings ({glue:text}`n_multi` images read by several
# readers), {glue:text}`n_egd` EGD-CXR-style readings and {glue:text}`n_chexpert`
# CheXpert-test-style radiographs. Of the {glue:text}`n_conventions` conventions of the real
# releases checked above ({glue:text}`n_items_checked` items in all),
# {glue:text}`n_conventions_held` are obeyed by every item checked; the table gives the
# counts of the others. The cohort is a deterministic function of its
# configuration: the next chapter reads it back through the dataset readers and builds the
# paper's train/test split.
#
# ## What it cannot show
# Phantoms are not patients: their anatomy is drawn, their findings are shapes of known
# texture, and their readings are simulated to dwell on the findings. The cohort therefore
# makes the pipeline testable and the paper's claims checkable against a known ground truth,
# but no number computed on it, in the {glue:text}`profile` profile or any other, says how
# RadGazeGen behaves on real radiographs or real radiologists' gaze. The
# {glue:text}`n_conventions` checks cover the conventions the study knows of, not every
# quirk of the real files.
