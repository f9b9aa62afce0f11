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
# # Table 3: do generated CheXpert-test images keep their pathologies?
#
# **Overview.** The paper generates an image for every CheXpert-test {cite}`irvin2019chexpert`
# radiograph from its report (made by a report generator) and its controls (radiomics maps,
# lung mask and an HVA map), then asks a classifier trained on real radiographs,
# TorchXRayVision's {cite}`cohen2022torchxrayvision` DenseNet-121 {cite}`huang2017densenet`,
# for the twelve pathologies of Table 3 ({cite:t}`bhattacharya2024radgazegen`, §4.2.2). If
# the generated image carries the report's findings, the AUC stays near the AUC on the real
# images (the first row, "Original*"). For pathology $j$, with classifier score $s_j$ and the
# positive and negative test images $\mathcal{P}_j$, $\mathcal{N}_j$, the AUC is the chance
# that a positive outscores a negative {cite}`hanley1982auc`:
#
# $$
# \mathrm{AUC}_j = \frac{1}{\lvert \mathcal{P}_j \rvert \lvert \mathcal{N}_j \rvert}
# \sum_{p \in \mathcal{P}_j} \sum_{n \in \mathcal{N}_j}
# \left( \mathbb{1}[s_j(p) > s_j(n)] + \tfrac{1}{2}\, \mathbb{1}[s_j(p) = s_j(n)] \right).
# $$ (eq-10-auc)
#
# The paper: RadGazeGen beats the text-only SD on most of the twelve pathologies.
#
# **Here.** Prompts are `reports.csv` (the user supplies reports for real CheXpert; the
# cohort writes its own). CheXpert has no gaze, so the HVA control of a test image is a
# gaze-guided hypothesis (notebook 03) chosen from what the method is given, the report that
# is also its prompt: the training hypothesis of the first finding the report names
# (negated sentences such as "No pleural effusion." skipped). A report that names no
# finding with a hypothesis gets no gaze control: for that image RadGazeGen runs with Eq. 6's
# HVA indicator off, which is Rad-CN. The control never depends on the image's labels, which
# are only the answers the classifier is scored against (tested: permuting the labels
# leaves every control unchanged). The classifier is TorchXRayVision's DenseNet-121 when its
# weights are given (`xrv_weights_dir`), otherwise a DenseNet-121 trained here from scratch
# on the cohort's MIMIC-CXR-LT training images, named as such.
#
# **Prerequisites.** Notebooks 01-06.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
chexpert_root: str = "runs/smoke/cohort/chexpert"  # CheXpert root with test_labels.csv, test/ and reports.csv
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root (classifier training images)
mimic_lt_root: str = "runs/smoke/cohort/mimic-cxr-lt"  # MIMIC-CXR-LT label files (classifier training labels)
xrv_weights_dir: str = ""  # folder with TorchXRayVision densenet121-res224-all weights, "" to train a DenseNet-121 here
classifier_size: int = 32  # classifier input side (px) when trained here
classifier_epochs: int = 3  # epochs of the classifier trained here
n_test: int = 6  # CheXpert-test images used, -1 for all
scheduler: str = "unipc"  # sampler
sample_steps: int = 5  # denoising steps
guidance: float = 3.0  # classifier-free guidance
negative_prompt: str = ""  # negative prompt
control_scale: float = 1.0  # conditioning scale of every control (authors on CheXpert: 0.01)
n_replicates: int = 1  # generations per method with different seeds
seed: int = 0  # image i of replicate r uses seed + 1000 r + i

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from radgazegen import generation
from radgazegen.metrics import classification, evaluation, tables
from radgazegen.generation import held_out, methods
from radgazegen.models import training_data
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import column_parts, glue, profile_banner
from radgazegen.core.labels import TABLE3_PATHOLOGIES
from radgazegen.core.vocabulary import CANNY

# %% [markdown]
# The run's models (SD-CXR, Rad-CN, HVA-CN) and the abbreviations of Table 3's twelve
# pathologies.

# %%
run = Run(run_dir)
display(profile_banner(profile))
device = "cuda" if torch.cuda.is_available() else "cpu"
sd_dir, rad, hva = run.read_models()
R = rad["resolution"]
abbrev = [a for a, _, _ in TABLE3_PATHOLOGIES]

# %% [markdown]
# ## CheXpert test: reports, labels and controls
# `held_out.held_out_conditioning` computes each image's radiomics maps and lung mask and
# picks its HVA map from its report alone (`hypotheses.hypothesis_for_report`).

# %%
records = held_out.chexpert_test_records(chexpert_root, n_test)
truth = classification.table3_labels(records)  # (N, 12) positives: the answers, never a control
prompts = [r.report for r in records]
hyp = run.read_hypotheses()
cond, gazed = held_out.held_out_conditioning([r.image_path for r in records], prompts, hyp[hyp.split == "train"], R)
pd.DataFrame({"images": [len(records)], "positives per pathology (mean)": [truth.sum(0).mean()],
              "reports naming a finding with a hypothesis": [int(gazed.sum())]})

# %% [markdown]
# ## Generation: SD, T2I-Adapter (Canny) and RadGazeGen, same prompts and seeds
# `held_out.generate_held_out` runs a method that sees the gaze as Rad-CN on the images whose
# report named no finding.

# %%
registry = methods.build(rad, hva, control_scale, control_scale, control_scale)
chosen = [registry[methods.SD], registry.single(methods.T2I_ADAPTER, CANNY), registry[methods.RADGAZEGEN]]
sampler = generation.Sampler(sd_dir, scheduler, device)
generated = held_out.generate_held_out(sampler, chosen, registry, prompts, cond, gazed, [r.dicom_id for r in records],
                                       run.chapter_dir("10_table3_classification"), n_replicates, seed,
                                       sample_steps, guidance, negative_prompt, resolution=R)
real = np.stack([training_data.read_gray(r.image_path, R, "CheXpert radiograph") for r in records])

# %% [markdown]
# ## The classifier

# %%
classifier = classification.table3_classifier(xrv_weights_dir, mimic_lt_root, mimic_cxr_jpg_root, R, classifier_size,
                                              classifier_epochs, seed, device,
                                              run.chapter_dir("10_table3_classification") / "densenet121")
clf_name, classify = classifier.name, classifier
if classifier.losses is not None:
    print(f"{clf_name}: loss {classifier.losses[0]:.3f} -> {classifier.losses[-1]:.3f} over {classifier_epochs} epochs")

# %% [markdown]
# ## AUC per pathology (%)
# {eq}`eq-10-auc` is undefined for a pathology with no positive (or no negative) test image;
# its cell is empty and the average is over the others. The table is built like every results
# table of the study (`metrics.tables.build`): one row per image set, each scored once by the
# classifier, then read per pathology (`classification.auc_measure`).

# %%
images = {"Original*": [real], **generated}  # per row its replicates of (N, R, R) uint8 images
table = tables.build(list(images), {c: c for c in [*abbrev, "Avg."]}, lambda row, column: row,
                     classification.auc_measure(classify, truth, abbrev), images)  # each row scored once
mean, std = table.mean, table.std
# the table, and per image and seed the cells' evidence: the claims' intervals (chapter 14)
table.save(run, "table3", {"profile": profile, "classifier": clf_name, "replicates": n_replicates, "n_images": len(records)})
print(f"AUC (%) of {clf_name} on {len(records)} CheXpert-test images; {profile} profile")
for part in column_parts(evaluation.mean_std(mean, std, 2)):  # twelve findings: two tables, one under the other
    display(part)

# %% [markdown]
# ## Beside the paper

# %%
for part in column_parts(evaluation.paper_beside(run, "table3", mean, profile).round(2)):
    display(part)

# %%
rg, sd = methods.RADGAZEGEN, methods.SD
wins, n_defined = classification.pathologies_won(mean, rg, sd, abbrev)
glue("profile", profile)
glue("classifier", clf_name)
glue("n_images", len(records))
glue("n_gazed", int(gazed.sum()))
glue("n_pathologies", len(abbrev))
glue("n_replicates", n_replicates)
glue("rg_wins", wins)
glue("n_defined", n_defined)
glue("paper_rg_wins", classification.pathologies_won(evaluation.paper_as_ours("table3"), rg, sd, abbrev)[0])
glue("auc_real", float(mean.loc["Original*", "Avg."]))
glue("auc_sd", float(mean.loc[sd, "Avg."]) if sd in mean.index else float("nan"))
glue("auc_rg", float(mean.loc[rg, "Avg."]) if rg in mean.index else float("nan"))

# %% [markdown]
# ## What this run shows
# {glue:text}`classifier` scored {glue:text}`n_images` CheXpert-test images and their
# generated counterparts ({glue:text}`n_replicates` replicate(s));
# {glue:text}`n_gazed` reports named a finding with a gaze hypothesis. The average AUC
# {eq}`eq-10-auc` is {glue:text}`auc_real:.2f` on the real images, {glue:text}`auc_sd:.2f` on
# SD's and {glue:text}`auc_rg:.2f` on RadGazeGen's; RadGazeGen beats SD on
# {glue:text}`rg_wins` of the {glue:text}`n_defined` pathologies with a defined AUC (the
# paper: {glue:text}`paper_rg_wins` of {glue:text}`n_pathologies`). The classifier's scores
# per image are saved for chapter 14's intervals.
#
# ## What it cannot show
# In the {glue:text}`profile` profile a handful of test images and a classifier trained for a
# few epochs make each AUC a coarse estimate, and undefined where a pathology has no positive
# image. Without TorchXRayVision's weights the classifier is trained on the cohort, so the
# AUCs say whether the generated phantoms keep the cohort's findings, not whether real
# generated radiographs keep real ones. The reports are the cohort's, not a report
# generator's as in the paper.
