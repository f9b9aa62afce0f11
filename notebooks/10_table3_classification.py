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
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from IPython.display import display
from radgazegen.core.progress import tqdm

from radgazegen import controls, generation, metrics, standins
from radgazegen.metrics import evaluation
from radgazegen.controls import hypotheses
from radgazegen.generation import methods
from radgazegen.models import training_data
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import column_parts, glue, profile_banner
from radgazegen.data import read_chexpert, read_mimic_lt
from radgazegen.core.intervals import Evidence, save_evidence
from radgazegen.core.labels import TABLE3_PATHOLOGIES
from radgazegen.controls.segmentation import classical_lung_mask
from radgazegen.core.vocabulary import CANNY, HVA, SEGMENTATION

run = Run(run_dir)
display(profile_banner(profile))
device = "cuda" if torch.cuda.is_available() else "cpu"
sd_dir, rad, hva = run.read_models()
R = rad["resolution"]
abbrev = [a for a, _, _ in TABLE3_PATHOLOGIES]
observations = [c for _, c, _ in TABLE3_PATHOLOGIES]

# %% [markdown]
# ## CheXpert test: reports, labels and controls

# %%
records = [r for r in read_chexpert(chexpert_root) if "frontal" in r.image_path.name]
records = records[:n_test] if n_test >= 0 else records
if not all(r.report for r in records):
    raise ValueError(f"{chexpert_root}/reports.csv: no report for {sum(not r.report for r in records)} image(s) (field 'report')")
truth = np.array([[float(r.labels.get(c, 0.0) == 1.0) for c in observations] for r in records])
full = np.stack([training_data.read_gray(r.image_path, 512, "CheXpert radiograph") for r in records])
maps = controls.radiomics_maps(full, size=512)
maps[SEGMENTATION] = np.stack([classical_lung_mask(im) for im in full])
hyp = run.read_hypotheses()
hyp = hyp[hyp.split == "train"]


prompts = [r.report for r in records]
picked = [hypotheses.hypothesis_for_report(p, hyp) for p in prompts]  # from the prompt alone, never the labels
gazed = np.array([p is not None for p in picked])
maps[HVA] = [training_data.read_control(HVA, Path(p[1])) if p else np.zeros((R, R), np.uint8) for p in picked]
cond = training_data.conditioning(maps, R)  # the ControlNets' conditioning, as training_data.ControlDataset makes it
pd.DataFrame({"images": [len(records)], "positives per pathology (mean)": [truth.sum(0).mean()],
              "reports naming a finding with a hypothesis": [int(gazed.sum())]})

# %% [markdown]
# ## Generation: SD, T2I-Adapter (Canny) and RadGazeGen, same prompts and seeds

# %%
registry = methods.build(rad, hva, control_scale, control_scale, control_scale)
chosen = [registry[methods.SD], registry.single(methods.T2I_ADAPTER, CANNY), registry[methods.RADGAZEGEN]]
sampler = generation.Sampler(sd_dir, scheduler, device)


def sample(method: methods.Method, r: int) -> np.ndarray:
    """Replicate ``r`` of ``method`` for every test image; a method that sees the gaze runs as
    Rad-CN (Eq. 6's HVA indicator off) on the images whose report named no finding."""
    seeds = [seed + 1000 * r + i for i in range(len(prompts))]
    groups = [(method, np.arange(len(prompts)))]
    if method.uses_gaze:
        groups = [(method, np.nonzero(gazed)[0]), (registry[methods.RAD_CN], np.nonzero(~gazed)[0])]
    images = [None] * len(prompts)
    for m, idx in groups:
        if len(idx):
            out = sampler.sample(m, [prompts[i] for i in idx], {k: v[torch.from_numpy(idx)] for k, v in cond.items()},
                                 seeds=[seeds[i] for i in idx], steps=sample_steps, guidance=guidance,
                                 negative_prompt=negative_prompt or None, resolution=R)
            for i, image in zip(idx, out):
                images[i] = image
    return np.stack(images)


generated = {}
for method in tqdm([m for m in chosen if m is not None], desc="methods", disable=None):
    generated[method.name] = [sample(method, r) for r in range(n_replicates)]
    generation.write_generation(run.chapter_dir("10_table3_classification") / method.folder,
                                np.concatenate(generated[method.name]),
                                [{"name": rec.dicom_id, "prompt": p, "replicate": r, "model": method.name}
                                 for r in range(n_replicates) for rec, p in zip(records, prompts)])
real = np.stack([training_data.read_gray(r.image_path, R, "CheXpert radiograph") for r in records])

# %% [markdown]
# ## The classifier

# %%
if xrv_weights_dir:
    xrv = standins.XRVClassifier(xrv_weights_dir, device=device)
    clf_name = xrv.name
    cols = [xrv.pathologies.index(x) for _, _, x in TABLE3_PATHOLOGIES]
    classify = lambda images: xrv(images)[:, cols]
else:
    lt = [r for r in read_mimic_lt(mimic_lt_root, mimic_cxr_jpg_root) if r.split == "train"]
    x = np.stack([training_data.read_gray(r.image_path, max(classifier_size, R), "MIMIC-CXR-LT radiograph") for r in lt])
    y = np.array([[r.labels[c] for c in observations] for r in lt], np.float32)
    model, losses = standins.train_classifier("densenet121", x, y, multilabel=True, size=classifier_size,
                                              epochs=classifier_epochs, lr=1e-3, seed=seed, device=device)
    standins.save_classifier(model, run.chapter_dir("10_table3_classification") / "densenet121")
    clf_name = f"DenseNet-121 trained here on {len(lt)} cohort images (TorchXRayVision weights absent)"
    classify = lambda images: standins.predict(model, images, device=device)
    print(f"{clf_name}: loss {losses[0]:.3f} -> {losses[-1]:.3f} over {classifier_epochs} epochs")

# %% [markdown]
# ## AUC per pathology (%)
# {eq}`eq-10-auc` is undefined for a pathology with no positive (or no negative) test image;
# its cell is empty and the average is over the others.

# %%
def auc_row(scores: np.ndarray) -> pd.Series:
    """AUC (%) per pathology of one replicate's ``(N, 12)`` classifier scores, and their average."""
    row = pd.Series(metrics.auc_per_class(truth, scores, abbrev)) * 100
    row["Avg."] = row.mean(skipna=True)
    return row


rows = {"Original*": [real], **generated}
scores = {name: np.stack([classify(x) for x in reps]) for name, reps in rows.items()}  # (R, N, 12) per row
mean = pd.DataFrame({name: pd.concat([auc_row(s) for s in sc], axis=1).mean(axis=1) for name, sc in scores.items()}).T
std = pd.DataFrame({name: pd.concat([auc_row(s) for s in sc], axis=1).std(axis=1, ddof=1) if len(sc) > 1
                    else pd.Series(0.0, index=[*abbrev, "Avg."]) for name, sc in scores.items()}).T
defined = [j for j in range(len(abbrev)) if 0 < truth[:, j].sum() < len(truth)]  # AUC needs both classes
cells = {(name, abbrev[j]): Evidence("labels", "higher", values=sc[:, :, j], truth=truth[:, j], statistic="auc", scale=100.0)
         for name, sc in scores.items() for j in defined}  # per image and seed: the claims' intervals (chapter 14)
evaluation.save_result(run, "table3", mean, std, {"profile": profile, "classifier": clf_name,
                                                      "replicates": n_replicates, "n_images": len(records)})
save_evidence(run.evidence_path("table3"), cells)
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
wins = int((mean.loc[rg, abbrev] > mean.loc[sd, abbrev]).sum()) if rg in mean.index else 0
n_defined = int(mean.loc[[rg, sd], abbrev].notna().all().sum()) if rg in mean.index else 0
paper = evaluation.paper_as_ours("table3")
glue("profile", profile)
glue("classifier", clf_name)
glue("n_images", len(records))
glue("n_gazed", int(gazed.sum()))
glue("n_pathologies", len(abbrev))
glue("n_replicates", n_replicates)
glue("rg_wins", wins)
glue("n_defined", n_defined)
glue("paper_rg_wins", int((paper.loc[rg, abbrev] > paper.loc[sd, abbrev]).sum()))
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
