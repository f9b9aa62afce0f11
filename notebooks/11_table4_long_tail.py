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
#     upstream: [01_data_preparation, 02_control_maps, 03_hypotheses, 04_sd_cxr, 05_rad_cn, 06_hva_cn]
# ---

# %% [markdown]
# # Table 4: generated images against the long tail
#
# **Overview.** MIMIC-CXR-LT {cite}`holste2022mimiclt` has a few head classes with thousands
# of images and tail classes with a handful. The paper tops up every medium and tail class
# with generated images (reports of that class as prompts, randomly drawn radiomics and HVA
# maps as controls) and trains a ResNet-50 {cite}`he2016resnet` on real plus generated
# images ({cite:t}`bhattacharya2024radgazegen`, §4.2.3). With per-class recall
# $\mathrm{R}_k = \mathrm{TP}_k / (\mathrm{TP}_k + \mathrm{FN}_k)$ over the $K$ classes, it
# reports the accuracy of each group $G$ (head / medium / tail) and their average on the
# balanced test set, and macro-F1 and balanced accuracy on the (imbalanced) test set:
#
# $$
# \begin{gathered}
# \mathrm{Acc}_G = \frac{1}{\lvert G \rvert} \sum_{k \in G} \mathrm{R}_k,\qquad
# \mathrm{bAcc} = \frac{1}{K} \sum_{k=1}^{K} \mathrm{R}_k,\\
# \mathrm{mF1} = \frac{1}{K} \sum_{k=1}^{K} \frac{2\, \mathrm{TP}_k}{2\, \mathrm{TP}_k + \mathrm{FP}_k + \mathrm{FN}_k}.
# \end{gathered}
# $$ (eq-11-metrics)
#
# Its claims: RadGazeGen beats ControlNet (Canny) and Multi-ControlNet (Canny +
# segmentation) on head and medium, is comparable on tail, and improves both test sets.
#
# **Here.** The same recipe on the cohort's MIMIC-CXR-LT files, plus a run without any
# generated images (the reference the paper does not print). Each generated image of class
# *k* takes a report of a class-*k* training image as prompt, the radiomics maps and lung
# mask of a random training image, and a gaze-guided hypothesis of class *k* (notebook 03)
# when one exists, else a random one. Class lists (medium, tail) are the authors'.
#
# **Prerequisites.** Notebooks 01-06.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR reports root
mimic_lt_root: str = "runs/smoke/cohort/mimic-cxr-lt"  # MIMIC-CXR-LT label files
augment_to: int = 2  # each medium and tail class is topped up to this many training images (paper: 1100)
arch: str = "resnet18"  # classifier: resnet50 (the paper's), resnet18 (the CPU stand-in of smoke)
classifier_size: int = 32  # classifier input side in px (benchmark recipe: 256)
epochs: int = 3  # classifier epochs (benchmark recipe: up to 60 with early stopping)
batch_size: int = 32  # classifier batch size (benchmark recipe: 256)
lr: float = 1e-3  # classifier learning rate (benchmark recipe: 1e-4)
scheduler: str = "unipc"  # sampler
sample_steps: int = 5  # denoising steps
guidance: float = 3.0  # classifier-free guidance
control_scale: float = 1.0  # conditioning scale of every control
seed: int = 0  # seed of the draws, the generation (seed + i) and the classifiers

# %%
import numpy as np
import torch
from IPython.display import display

from radgazegen import generation
from radgazegen.metrics import classification, evaluation, tables
from radgazegen.generation import methods, top_up
from radgazegen.models import training_data
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import glue, profile_banner
from radgazegen.figures import glue_figure, long_tail
from radgazegen.data import read_mimic_cxr, read_mimic_lt
from radgazegen.core.labels import LT_HEAD, LT_MEDIUM, LT_TAIL, MIMIC_LT_CLASSES
from radgazegen.core.vocabulary import CANNY, SEGMENTATION

# %% [markdown]
# The run's models (SD-CXR, Rad-CN, HVA-CN) and the MIMIC-CXR-LT classes in their head,
# medium and tail groups.

# %%
run = Run(run_dir)
display(profile_banner(profile))
device = "cuda" if torch.cuda.is_available() else "cpu"
sd_dir, rad, hva = run.read_models()
R = rad["resolution"]
classes = list(MIMIC_LT_CLASSES)
groups = {"Head": LT_HEAD, "Medium": LT_MEDIUM, "Tail": LT_TAIL}

# %% [markdown]
# ## The long tail and what is generated
# `top_up.top_up_plan` draws, for each image to generate, a class-*k* report, a training
# image's radiomics maps and a class-*k* hypothesis.

# %%
lt = read_mimic_lt(mimic_lt_root, mimic_cxr_jpg_root)
by_split = {s: [r for r in lt if r.split == s] for s in ("train", "balanced-test", "test")}
counts = top_up.class_counts(by_split["train"], classes)
need = top_up.top_up_need(counts, augment_to)
reports = {r.dicom_id: r.report for r in read_mimic_cxr(mimic_cxr_jpg_root, mimic_cxr_reports_root)}
rng = np.random.default_rng(seed)
pool = training_data.run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, which="train")
hyp = run.read_hypotheses()
hyp = hyp[hyp.split == "train"].reset_index(drop=True)
plan = top_up.top_up_plan(need, by_split["train"], classes, reports, pool, hyp, rng)  # (class, prompt, item, hypothesis)
glue_figure("fig-11-top-up", long_tail.top_up_figure(counts, need, classes))
print(f"{len(plan)} images generated per method; {len(by_split['train'])} real training images")

# %% [markdown]
# ```{glue:figure} fig-11-top-up
# :name: fig-11-top-up
# :alt: A stacked bar chart on a symmetric-log axis, one bar per MIMIC-CXR-LT class: real training images, with the generated images stacked on top for the medium and tail classes.
#
# The MIMIC-CXR-LT training set of the {glue:text}`profile` run, each medium and tail class
# topped up with generated images to {glue:text}`augment_to` images. Look at the orange
# tops: they are all the generator adds; the head classes get none.
# ```

# %% [markdown]
# ## Generation per augmentation method (same prompts, controls and seeds)

# %%
batch = top_up.plan_batch(plan, R)
registry = methods.build(rad, hva, control_scale, control_scale, control_scale)
chosen = [registry.single(methods.SINGLE_CONTROLNET, CANNY), registry.find(methods.MULTI_CONTROLNET, (CANNY, SEGMENTATION)),
          registry[methods.RADGAZEGEN]]  # the paper's three generators
sampler = generation.Sampler(sd_dir, scheduler, device) if batch is not None else None
augment = top_up.sample_top_ups(sampler, chosen, batch, plan, classes, seed, sample_steps, guidance, R,
                                run.chapter_dir("11_table4_long_tail"))

# %% [markdown]
# ## One classifier per augmentation method
# Table 4 is built like every results table of the study (`metrics.tables.build`): one row per
# augmentation, and for each row one classifier of the same architecture, seed and epochs,
# trained on the real training images plus that row's generated ones, then scored on both test
# sets (`classification.long_tail_measure`).

# %%
real = classification.long_tail_arrays(by_split["train"], classes, R)  # (images, class indices)
tests = {s: classification.long_tail_arrays(by_split[s], classes, R) for s in ("balanced-test", "test")}
# one classifier per row, trained on the real images plus the row's generated ones, rows in order
train_and_score = classification.long_tail_measure(real, tests, classes, groups, arch, classifier_size, epochs,
                                                   batch_size, lr, seed, device)
columns = classification.long_tail_columns(groups)
table = tables.build(list(augment), {c: c for c in columns}, lambda row, column: row, train_and_score,
                     {name: [xy] for name, xy in augment.items()})

# %% [markdown]
# Table 4 of this run: the group accuracies and their average on the balanced test set,
# macro-F1 and balanced accuracy on the test set ({eq}`eq-11-metrics`).

# %%
mean = table.mean
# the table, and per test image the cells' predictions: the claims' intervals over test images (chapter 14)
table.save(run, "table4", {"profile": profile, "classifier": arch, "replicates": 1,
                           "augment_to": augment_to, "generated": len(plan)})
print(f"{arch} at {classifier_size} px, {epochs} epochs; balanced test n={len(by_split['balanced-test'])}, "
      f"test n={len(by_split['test'])}; {profile} profile")
mean.round(3)

# %% [markdown]
# ## Beside the paper

# %%
evaluation.paper_beside(run, "table4", mean, profile).round(3)

# %%
rg = methods.RADGAZEGEN
ahead, others = classification.baselines_beaten(mean, rg, ("Head", "Medium", "Tail", "bAcc"))
glue("profile", profile)
glue("augment_to", augment_to)
glue("n_generated", len(plan))
glue("n_real_train", len(by_split["train"]))
glue("n_balanced", len(by_split["balanced-test"]))
glue("n_test", len(by_split["test"]))
glue("arch", arch)
glue("n_baselines", len(others))
glue("rg_ahead_head", ahead["Head"])
glue("rg_ahead_medium", ahead["Medium"])
glue("rg_ahead_bacc", ahead["bAcc"])
glue("bacc_none", float(mean.loc["no augmentation", "bAcc"]))
glue("bacc_rg", float(mean.loc[rg, "bAcc"]) if rg in mean.index else float("nan"))

# %% [markdown]
# ## What this run shows
# Each generator added {glue:text}`n_generated` images to {glue:text}`n_real_train` real
# training images (medium and tail classes topped up to {glue:text}`augment_to`), and a
# {glue:text}`arch` was trained per generator and once without generated images. On the
# balanced test set ({glue:text}`n_balanced` images) RadGazeGen's classifier is ahead of
# {glue:text}`rg_ahead_head` of the {glue:text}`n_baselines` baseline generators on head
# classes and {glue:text}`rg_ahead_medium` on medium classes, by the accuracies of
# {eq}`eq-11-metrics`; on the
# test set ({glue:text}`n_test` images) its balanced accuracy is {glue:text}`bacc_rg:.3f`
# (ahead of {glue:text}`rg_ahead_bacc`), against {glue:text}`bacc_none:.3f` without any
# generated image.
#
# ## What it cannot show
# In the {glue:text}`profile` profile the classes are topped up to a few images, the
# classifier is a small {glue:text}`arch` trained for a few epochs at low resolution, and the
# test sets are tiny: a difference of one test image moves a group's accuracy a lot. One
# classifier per generator means the spread between training seeds is not measured
# (chapter 14's intervals cover the test images only).
