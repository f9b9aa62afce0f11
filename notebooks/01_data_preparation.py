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
# while an eye tracker recorded their gaze: EGD-CXR {cite}`karargyris2021egd` and the
# single-reader part of REFLACX {cite}`lanfredi2022reflacx`, with the overlap removed, and
# evaluates on the REFLACX images read by five radiologists
# ({cite:t}`bhattacharya2024radgazegen`, §4, §4.1). This chapter reads every source through
# the study's readers, builds that split, and looks at the data: readings with their
# fixations and finding boxes, and the long-tailed label distribution of MIMIC-CXR-LT
# {cite}`holste2022mimiclt` that §4.2.3 augments. The paper's counts are printed beside this
# run's in the split table below.
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
show_real_images: bool = True  # figures may embed radiographs read from the data roots (full: false, credentialed data; see README)

# %%
import numpy as np
import pandas as pd
from IPython.display import display, Markdown

from radgazegen import data
from radgazegen.data import split as paper
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner
from radgazegen.figures import glue_figure, plot_label_distribution, plot_reading_timeline
from radgazegen.figures.controls_figures import readings_figure
from radgazegen.core.labels import FINDING_KEYWORDS, MIMIC_LT_CLASSES, LT_TO_REFLACX
from radgazegen.core.paper import compare

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
dropped = pd.DataFrame({name: recs.stats for name, recs in sources.items()}).fillna(0).astype(int)
dropped

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
split_table = compare("datasets", summary, profile)
split_table

# %% [markdown]
# The paper's column comes from the study's single file of the paper's values. In `full`
# the two columns are evidence about the releases: REFLACX's phases 1-2 hold one five-reader
# image fewer than the paper's held-out count, so expect a note (`strict_counts` stops the
# run instead). In `smoke` and `teach` the cohort is small by design, so only the rules are
# comparable, not the counts.

# %% [markdown]
# ## Readings: where the radiologist looked
# {numref}`fig-01-reflacx` draws REFLACX-layout readings: each dot a fixation, red boxes the
# finding locations the radiologist marked (REFLACX ellipses' boxes).

# %%
reflacx = [r for r in sources["reflacx"] if len(r.boxes) and len(r.fixations)]
picks = rng.choice(len(reflacx), size=min(n_example_images, len(reflacx)), replace=False) if reflacx else []
shown = [reflacx[i] for i in picks]
glue_figure("fig-01-reflacx", readings_figure(
    shown, [f"{r.reading_id}\n" + ", ".join(sorted({b.label for b in r.boxes})) for r in shown], show_real_images),
    empty="No REFLACX reading with both fixations and boxes in this run.")
glue("n_reflacx_shown", len(shown))

# %% [markdown]
# ```{glue:figure} fig-01-reflacx
# :name: fig-01-reflacx
# :alt: Radiographs overlaid with dots for the radiologist's fixations, coloured from dark (early) to yellow (late) and joined by a faint yellow scan path, and red rectangles labelled with findings.
#
# {glue:text}`n_reflacx_shown` REFLACX-layout readings ({glue:text}`profile` profile): dot
# size is the fixation's duration, colour its time (dark early, yellow late), red boxes the
# findings. Look for the clusters of large late dots inside the red boxes: the dwell on a
# finding while it is dictated, which the HVA maps of the next chapter are made from.
# ```

# %% [markdown]
# The same reading over time ({numref}`fig-01-timeline`): a systematic search of the chest
# first, then the gaze settles on each finding while its sentence is dictated. This timing
# is what the per-finding HVA maps of the next chapters use.

# %%
if len(picks):
    rec = reflacx[picks[0]]
    keywords = [k for b in rec.boxes for lt, rx in LT_TO_REFLACX.items() if rx == b.label
                for k in FINDING_KEYWORDS.get(lt, ())]
    glue_figure("fig-01-timeline", plot_reading_timeline(rec.fixations, rec.words, rec.image_size, highlight=keywords))
    glue("timeline_reading", rec.reading_id)
    display(Markdown(f"**Dictation of {rec.reading_id}:** {rec.report}"))
else:
    glue_figure("fig-01-timeline", None, empty="No REFLACX reading to show in this run.")
    glue("timeline_reading", "(none)")

# %% [markdown]
# ```{glue:figure} fig-01-timeline
# :name: fig-01-timeline
# :alt: Two line plots of the gaze's horizontal and vertical position against time, with red bands where finding words were dictated.
#
# Gaze position of reading {glue:text}`timeline_reading` over the dictation, as fractions of
# the image's width and height; the red bands are the finding words. Look at how the lines
# sweep the chest early and flatten while a finding word is spoken.
# ```

# %% [markdown]
# EGD-CXR readings have no finding boxes ({numref}`fig-01-egd`).

# %%
egd = [r for r in sources["egd-cxr"] if len(r.fixations)][: n_example_images]
glue_figure("fig-01-egd", readings_figure(egd, [f"EGD-CXR {r.dicom_id[:8]}" for r in egd], show_real_images),
            empty="No EGD-CXR reading with fixations in this run.")
glue("n_egd_shown", len(egd))

# %% [markdown]
# ```{glue:figure} fig-01-egd
# :name: fig-01-egd
# :alt: Radiographs overlaid with the fixations of EGD-CXR-style readings, without finding boxes.
#
# {glue:text}`n_egd_shown` EGD-CXR-layout readings ({glue:text}`profile` profile), drawn as
# in {numref}`fig-01-reflacx`. Without boxes, the per-finding maps of EGD-CXR come from its
# word-level transcript and its labels (next chapters).
# ```

# %% [markdown]
# ## The long tail
# MIMIC-CXR-LT assigns one class to each image; §4.2.3 generates images for the medium and
# tail classes to rebalance it ({numref}`fig-01-long-tail`).

# %%
lt = frames["mimic-cxr-lt"]
lt_labels = pd.DataFrame([{"split": r.split, "label": max(r.labels, key=r.labels.get)} for r in sources["mimic-cxr-lt"]])
train_counts = lt_labels[lt_labels.split == "train"]["label"].value_counts().reindex(MIMIC_LT_CLASSES, fill_value=0)
glue_figure("fig-01-long-tail", plot_label_distribution(train_counts.sort_values(ascending=False)))

# %% [markdown]
# ```{glue:figure} fig-01-long-tail
# :name: fig-01-long-tail
# :alt: A bar chart on a logarithmic axis of training images per MIMIC-CXR-LT class, sorted from most to fewest, with bars coloured by head, medium and tail group.
#
# Training images per MIMIC-CXR-LT class in the {glue:text}`profile` run, on a log scale,
# coloured by the paper's head, medium and tail groups. Look at how fast the bars fall from
# the head classes to the tail: the imbalance Table 4's generated images are meant to fill.
# ```

# %%
lt_labels.value_counts(["label", "split"]).unstack(fill_value=0).reindex(MIMIC_LT_CLASSES)

# %%
paper_col = split_table["paper"]
glue("profile", profile)
glue("n_train", int(summary["train"]))
glue("n_test", int(summary["test"]))
glue("paper_train", int(paper_col.get("train")))
glue("paper_test", int(paper_col.get("test")))
glue("n_egd", int(summary["egd_cxr_images"]))
glue("n_reflacx_single", int(summary["reflacx_single_reader_images"]))
glue("n_overlap", int(summary["egd_reflacx_overlap"]))
glue("n_sources", len(sources))
glue("n_dropped", int(dropped.to_numpy().sum()))
glue("n_lt_classes", len(MIMIC_LT_CLASSES))
glue("n_lt_empty", int((train_counts == 0).sum()))
glue("lt_ratio", float(train_counts.max() / max(1, train_counts[train_counts > 0].min())))

# %% [markdown]
# ## What this run shows
# The readers loaded all {glue:text}`n_sources` sources and dropped
# {glue:text}`n_dropped` off-image fixations or discarded readings. The split of §4.1 gives
# {glue:text}`n_train` training images ({glue:text}`n_egd` EGD-CXR and
# {glue:text}`n_reflacx_single` single-reader REFLACX images, {glue:text}`n_overlap` of them
# in both) and {glue:text}`n_test` held-out multi-reader images, against the paper's
# {glue:text}`paper_train` and {glue:text}`paper_test`. It is saved as `split.csv` in this
# chapter's artifacts, and the training chapters read it. The MIMIC-CXR-LT training set
# spans a factor of {glue:text}`lt_ratio:.0f` between its largest and smallest non-empty
# class, and {glue:text}`n_lt_empty` of its {glue:text}`n_lt_classes` classes have no
# training image in this run.
#
# ## What it cannot show
# In the {glue:text}`profile` profile the sources are the synthetic cohort, so the counts
# check the split's rules (multi-reader images held out, the overlap removed), not the
# paper's numbers; only `full` compares them with the releases. The readings are simulated,
# so the figures show what the readers return, not how radiologists read.
