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
# # Data preparation
#
# **Overview.** RadGazeGen trains its ControlNets on radiographs that radiologists read
# while an eye tracker recorded their gaze: EGD-CXR (1,083 images) and the single-reader
# part of REFLACX (2,507 images), 3,580 images after removing the overlap, and evaluates on
# the 110 REFLACX images read by five radiologists (§4, §4.1). This chapter reads every
# source through the study's readers, builds that split, and looks at the data: readings
# with their fixations and finding boxes, and the long-tailed label distribution of
# MIMIC-CXR-LT that §4.2.3 augments.
#
# **Prerequisites.** The data roots below: the synthetic cohort of the previous chapter in
# the `smoke` and `teach` profiles, the real releases in `full`.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root (files/, metadata csv.gz)
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR root holding files/pXX/.../sSTUDY.txt reports
reflacx_root: str = "runs/smoke/cohort/reflacx"  # REFLACX root (main_data/, gaze_data/)
egd_cxr_root: str = "runs/smoke/cohort/egd-cxr"  # EGD-CXR root (master_sheet.csv, fixations.csv, ...)
chexpert_root: str = "runs/smoke/cohort/chexpert"  # CheXpert root (test/, test_labels.csv, reports.csv)
mimic_lt_root: str = "runs/smoke/cohort/mimic-cxr-lt"  # MIMIC-CXR-LT root (the four single-label csvs)
expected_n_train: int = -1  # training images the split must give (paper: 3580), or -1 for no check
expected_n_test: int = -1  # held-out images the split must give (paper: 110), or -1 for no check
strict_counts: bool = False  # stop when the split's counts differ from the expected ones (else: a note, go on)
n_example_images: int = 4  # readings drawn with their fixations and boxes
seed: int = 0  # seed for choosing the example readings

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import display, Markdown

from radgazegen import data, split as paper
from radgazegen.artifacts import Run
from radgazegen.book import profile_banner
from radgazegen.figures import draw_reading, plot_label_distribution, plot_reading_timeline
from radgazegen.labels import FINDING_KEYWORDS, MIMIC_LT_CLASSES, LT_TO_REFLACX
from radgazegen.paper import compare

run = Run(run_dir)
rng = np.random.default_rng(seed)
display(profile_banner(profile))

# %% [markdown]
# ## Read every source
# One reader per dataset returns records of one type: image path and size, report,
# labels in the source's own vocabulary, finding boxes, fixations (original-image pixels,
# seconds from the start of the dictation) and time-stamped words. Gaze that fell outside
# the image, and REFLACX readings whose eye tracking was discarded, are dropped and counted.

# %%
sources = {
    "mimic-cxr": data.read_mimic_cxr(mimic_cxr_jpg_root, mimic_cxr_reports_root),
    "reflacx": data.read_reflacx(reflacx_root, mimic_cxr_jpg_root),
    "egd-cxr": data.read_egd_cxr(egd_cxr_root, mimic_cxr_jpg_root),
    "chexpert": data.read_chexpert(chexpert_root),
    "mimic-cxr-lt": data.read_mimic_lt(mimic_lt_root, mimic_cxr_jpg_root),
}
frames = {name: data.records_frame(recs) for name, recs in sources.items()}
counts = pd.concat(
    [f.groupby("split").agg(records=("dicom_id", "size"), images=("dicom_id", "nunique"),
                            fixations=("n_fixations", "sum")).assign(source=name)
     for name, f in frames.items()]
).reset_index().set_index(["source", "split"])
counts

# %% [markdown]
# What the readers dropped, per source (real REFLACX has off-image gaze and discarded
# readings; EGD-CXR marks off-image gaze with -1):

# %%
pd.DataFrame({name: recs.stats for name, recs in sources.items()}).fillna(0).astype(int)

# %% [markdown]
# ## The paper's split
# Test: the REFLACX images read by several radiologists. Train: the single-reader REFLACX
# images plus the EGD-CXR images, with the EGD-CXR/REFLACX overlap removed from EGD-CXR.

# %%
split = paper.paper_split(sources["reflacx"], sources["egd-cxr"])
summary = paper.overlap_summary(sources["reflacx"], sources["egd-cxr"])
problems = paper.check_counts(summary,
                              None if expected_n_train < 0 else expected_n_train,
                              None if expected_n_test < 0 else expected_n_test)
if problems and strict_counts:
    raise ValueError("the split does not give the expected counts: " + "; ".join(problems))
for p in problems:
    print(f"Note: {p}; the study goes on with the split the data gives (strict_counts stops here instead).")
run.write_split(split)
compare("datasets", summary, profile)

# %% [markdown]
# The paper's column comes from the study's single file of the paper's values. In `full`
# the two columns are evidence about the releases: REFLACX's phases 1-2 hold 109
# five-reader images where the paper reports 110 held-out images, so expect a note and one
# image fewer (`strict_counts` stops the run instead). In `smoke` and `teach` the cohort is
# small by design, so only the rules are comparable, not the counts.

# %% [markdown]
# ## Readings: where the radiologist looked
# Each dot is a fixation (size: duration; colour: time, dark = early); red boxes are the
# finding locations the radiologist marked (REFLACX ellipses' boxes).

# %%
reflacx = [r for r in sources["reflacx"] if len(r.boxes) and len(r.fixations)]
picks = rng.choice(len(reflacx), size=min(n_example_images, len(reflacx)), replace=False) if reflacx else []
ncol = min(2, max(1, len(picks)))  # two per row: the book's width keeps the 8 pt titles legible
fig, axes = plt.subplots(-(-max(1, len(picks)) // ncol), ncol, figsize=(3.4 * ncol, 3.6 * -(-max(1, len(picks)) // ncol)),
                         squeeze=False)
for ax in axes.flat[len(picks):]:
    ax.axis("off")
for ax, i in zip(axes.flat, picks):
    rec = reflacx[i]
    draw_reading(ax, data.load_image(rec), rec.fixations, rec.boxes,
                 title=f"{rec.reading_id}\n" + ", ".join(sorted({b.label for b in rec.boxes})))
fig.suptitle(f"REFLACX-layout readings ({profile} profile)", fontsize=10)
fig.tight_layout()

# %% [markdown]
# The same reading over time: a systematic search of the chest first, then the gaze
# settles on each finding while its sentence is dictated (finding words in red). This
# timing is what the per-finding HVA maps of the next chapters use.

# %%
if len(picks):
    rec = reflacx[picks[0]]
    keywords = [k for b in rec.boxes for lt, rx in LT_TO_REFLACX.items() if rx == b.label
                for k in FINDING_KEYWORDS.get(lt, ())]
    plot_reading_timeline(rec.fixations, rec.words, rec.image_size, highlight=keywords)
    display(Markdown(f"**Dictation of {rec.reading_id}:** {rec.report}"))

# %%
egd = [r for r in sources["egd-cxr"] if len(r.fixations)][: n_example_images]
ncol = min(2, max(1, len(egd)))
fig, axes = plt.subplots(-(-max(1, len(egd)) // ncol), ncol, figsize=(3.4 * ncol, 3.6 * -(-max(1, len(egd)) // ncol)),
                         squeeze=False)
for ax in axes.flat[len(egd):]:
    ax.axis("off")
for ax, rec in zip(axes.flat, egd):
    draw_reading(ax, data.load_image(rec), rec.fixations, title=f"EGD-CXR {rec.dicom_id[:8]}")
fig.suptitle(f"EGD-CXR-layout readings ({profile} profile)", fontsize=10)
fig.tight_layout()

# %% [markdown]
# ## The long tail
# MIMIC-CXR-LT assigns one of 19 classes to each image; §4.2.3 generates images for the
# medium and tail classes to rebalance it.

# %%
lt = frames["mimic-cxr-lt"]
lt_labels = pd.DataFrame([{"split": r.split, "label": max(r.labels, key=r.labels.get)} for r in sources["mimic-cxr-lt"]])
train_counts = lt_labels[lt_labels.split == "train"]["label"].value_counts().reindex(MIMIC_LT_CLASSES, fill_value=0)
plot_label_distribution(train_counts.sort_values(ascending=False),
                        title=f"MIMIC-CXR-LT training images per class ({profile} profile)");

# %%
lt_labels.value_counts(["label", "split"]).unstack(fill_value=0).reindex(MIMIC_LT_CLASSES)

# %% [markdown]
# ## Summary
# The readers load all five sources; the split of §4.1 is saved as `split.csv` in this
# chapter's artifacts and is what the training chapters read. Next: control maps
# (radiomics filters, lung masks, HVA maps).
