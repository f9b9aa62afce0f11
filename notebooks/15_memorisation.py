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
#     upstream: [03_hypotheses, 04_sd_cxr, 07_generation]
# ---

# %% [markdown]
# # Memorisation: is a generated image a copy of a training patient?
#
# **Overview.** The paper does not ask this question; the field now does. Diffusion models
# trained on medical images reproduce training images, more than GANs and most on small data
# sets or with many training steps {cite}`dar2024memorization,akbar2023memorization`, and a
# chest radiograph identifies its patient {cite}`packhauser2022reidentification`. CheXGenBench
# {cite}`dutt2025chexgenbench` therefore reports, beside fidelity, each generated image's
# distance to its nearest training image and a patient re-identification score. Before any
# generated image of a credentialed data set is published, this chapter checks it.
#
# **The check** (`radgazegen.metrics.memorisation`). For every generated test image: its
# nearest training image, in the encoder's feature space (the features of FID, chapter 08) and
# in pixels (32 px, one minus the correlation), set against two references: how close two
# different training images come (leave-one-out), and how close the held-out test images come
# to the training set. A **near-copy** is a generated image closer to a training image than
# the 5th percentile of the test-to-training distances; a model that draws new images like
# the test images has a copy rate of about 5% by construction, so the check tests the excess
# (one-sided binomial test) and gives the rate's exact 95% interval.
#
# **The check is seen to catch copying.** On the synthetic cohort patients are known, so the
# chapter also over-trains a copy of SD-CXR (many steps on a few training images: the
# regime where diffusion models memorise) and runs the same check, and a patient
# re-identification test, on images it generates from those images' own prompts, beside the
# profile's SD-CXR on the same prompts.
#
# **Prerequisites.** Notebooks 03 (the study encoder), 04 (SD-CXR) and 07 (the generated
# images).

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)
mimic_cxr_jpg_root: str = "runs/smoke/cohort/mimic-cxr-jpg"  # MIMIC-CXR-JPG root (the training images)
mimic_cxr_reports_root: str = "runs/smoke/cohort/mimic-cxr"  # MIMIC-CXR reports root
inception_weights: str = ""  # local FID Inception weights: the feature space; "" for the study encoder's features
copy_percentile: float = 5.0  # near-copy: closer to a training image than this percentile of test-to-training distances
max_training_images: int = 2000  # training images compared against (the first ones of the train split)
overtrain_images: int = 4  # the over-trained model's training images (a few: the regime that memorises)
overtrain_steps: int = 60  # its optimiser steps on them (smoke: wiring only)
overtrain_lr: float = 5e-4  # its learning rate
overtrain_seeds: int = 4  # images generated per over-trained prompt
copier_sigma: float = 2.0  # the copier's noise (grey levels, white): the check's positive control
sample_steps: int = 10  # denoising steps of the over-trained model's images
guidance: float = 3.0  # classifier-free guidance scale
guard_alpha: float = 0.05  # the guard fails when the copy rate exceeds chance at this level (binomial test)
allow_near_copies: bool = False  # full: publish even when the guard fails (the user's explicit opt-in)
show_real_images: bool = True  # figures may show training radiographs (full: false unless opted in; grey panels)
seed: int = 0  # seed of the over-training and its sampling

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from radgazegen.core.artifacts import Run
from radgazegen.figures import glue_figure, privacy
from radgazegen.figures.book import glue, profile_banner
from radgazegen.metrics import copy_controls, evaluation, memorisation

run = Run(run_dir)
display(profile_banner(profile))
gen = evaluation.load_generated(run)
R = gen.real.shape[-1]

# %% [markdown]
# The training images the check compares against (`copy_controls.training_images`), and the
# feature space: chapter 08's.

# %%
train, train_images = copy_controls.training_images(run, mimic_cxr_jpg_root, mimic_cxr_reports_root, R, max_training_images)
fid = evaluation.fid_metric(run, inception_weights, real=gen.real)  # chapter 08's feature network
features = fid.features  # (N, H, W) uint8 -> (N, D)
print(f"{len(train)} training images, {len(gen.real)} held-out test images, {R} px; "
      f"{len(gen.images)} generated methods; features: {fid.name}")

# %% [markdown]
# ## Every generated test image against the training set
# Each method's images (all replicates) are checked in both spaces. The copy rate of images
# like the held-out ones is about the percentile (5%); the p-value tests the excess.

# %%
spaces = memorisation.spaces(features, train_images, gen.real)
checks = {name: memorisation.check_images(np.concatenate(reps), spaces, copy_percentile)
          for name, reps in gen.images.items()}
table = memorisation.checks_table(checks)
display(table.round(3))  # 3 decimals: the table fits the column
worst = table.sort_values("copy rate", ascending=False).iloc[0]
glue("profile", profile)
glue("mem_n_methods", len(checks))
glue("mem_worst_method", str(worst.name[0]))
glue("mem_worst_rate", float(worst["copy rate"]))
glue("mem_worst_p", float(worst["p-value"]))

# %%
shown = [m for m in ("SD", "RadGazeGen", str(worst.name[0])) if m in checks]
fig = privacy.distance_figure(checks, spaces, methods=list(dict.fromkeys(shown)))
glue_figure("fig-15-distances", fig)

# %% [markdown]
# ```{glue:figure} fig-15-distances
# :name: fig-15-distances
# :alt: Histograms of distances to the nearest training image: training images among themselves, held-out test images, and each method's generated images; a dashed line marks the near-copy threshold.
#
# Distance of each image to its nearest training image, in the encoder's features (left) and
# in pixels (right): the training images among themselves (leave-one-out), the held-out test
# images, and the generated test images of SD, RadGazeGen and the method with the highest
# copy rate (the table above has every method). Dashed: the near-copy threshold (the
# 5th percentile of the test images' distances). A model that copies puts mass left of it.
# ```
#
# The closest pairs of the method with the highest copy rate, generated image beside its
# nearest training image (grey panels where training radiographs may not be shown):

# %%
name = worst.name[0]
pairs = checks[name][worst.name[1]].closest_pairs(4)
fig = privacy.pairs_figure(np.concatenate(gen.images[name]), train_images, pairs, show_real_images,
                                titles=(f"generated ({name})", "nearest training image"))
glue_figure("fig-15-pairs", fig)

# %% [markdown]
# ```{glue:figure} fig-15-pairs
# :name: fig-15-pairs
# :alt: Pairs of a generated radiograph and its nearest training radiograph, closest pairs first.
#
# The closest generated-training pairs of {glue:text}`mem_worst_method` (the method with the
# highest copy rate), closest first; the distance is under each pair.
# ```

# %% [markdown]
# ## The check catches a model that copies
# A copy of SD-CXR is trained on `overtrain_images` training images for `overtrain_steps`
# steps, then generates `overtrain_seeds` images from each of their own prompts; so does the
# profile's SD-CXR. Both sets go through the same check, and a re-identification test: is the
# nearest training image (in the encoder's features) of the prompt's own patient more often
# than chance? A copier (the same training images with Gaussian noise of `copier_sigma` grey
# levels, `memorisation.noisy_copies`) is the check's positive control: a check that misses
# it could not catch a model that copies. SD-CXR's VAE round trip of the same training images
# (`models.vae_round_trip`) is the ceiling: no image SD-CXR generates comes closer to a
# training image than its own encoding decoded. The cohort's patients are drawn from one phantom and
# differ little: in the study encoder's features, white noise of 8 grey levels moves an image
# further than the nearest other patient is, so the copier's noise is small.

# %%
overtrained = copy_controls.overtrain(run, train, overtrain_images, overtrain_steps, overtrain_lr, overtrain_seeds, seed, R)
few, prompts, patients = overtrained.few, overtrained.prompts, overtrained.patients
images, copier, round_trip = copy_controls.control_images(overtrained, train, train_images, profile, overtrain_steps,
                                                          sample_steps, guidance, copier_sigma, seed)

# %%
caught, control_checks = copy_controls.controls_table(images, spaces, features, train, patients, copy_percentile)
display(caught.round(3))
for name, value in copy_controls.control_values(caught, control_checks, copier, round_trip, guard_alpha, profile).items():
    glue(name, value)

# %%
fig = privacy.pairs_figure(images[list(images)[1]], train_images, np.stack(
    [np.arange(0, len(prompts), overtrain_seeds), [train.index(r) for r in few]], 1), show_real_images,
    titles=("over-trained model's image", "its prompt's training image"))
glue_figure("fig-15-overtrained", fig)

# %% [markdown]
# ```{glue:figure} fig-15-overtrained
# :name: fig-15-overtrained
# :alt: Images of the over-trained model beside the training images whose prompts they were generated from.
#
# The over-trained model's first image of each prompt beside the training image the prompt
# belongs to: a model that memorises draws its training images back.
# ```
#
# The copier's copy rate is {glue:text}`mem_copier_rate:.2f` and it re-identifies its
# patients at {glue:text}`mem_copier_reid`: the check catches images that are their training
# images. SD-CXR's own VAE, encoding and decoding each training image, gives the closest image
# a latent diffusion model could generate: its copy rate is {glue:text}`mem_vae_features:.2f`
# in features and {glue:text}`mem_vae_pixels:.2f` in pixels, so a space that does not flag
# these round trips cannot catch a latent model's copies (and a model is flagged, here and
# by the guard, when either space flags it). The over-trained model's copy rate is
# {glue:text}`mem_over_rate:.2f` in features (p = {glue:text}`mem_over_p:.3g` against the 5%
# of new images; the profile's SD-CXR on the same prompts {glue:text}`mem_base_rate:.2f`) and
# {glue:text}`mem_over_pixels:.2f` in pixels, and its images re-identify their prompts'
# patients at {glue:text}`mem_over_reid`.
#
# **Reading:** {glue:text}`mem_reading`

# %% [markdown]
# ## The publication guard
# A run whose generated test images copy training images more often than new images would
# (one-sided binomial test at `guard_alpha`, in either space) must not publish them. In the
# `full` profile this chapter stops with the names of the near-copies unless the user opts in
# (`allow_near_copies`), and the book build refuses a full run whose guard failed.

# %%
verdict = memorisation.guard_verdict(checks, guard_alpha)
rates = table["copy rate"].unstack("space")
evaluation.save_result(run, "memorisation", rates, rates * 0, {"profile": profile, "alpha": guard_alpha, **verdict,
                                                               "allowed": bool(allow_near_copies)})
print(verdict["text"])
if profile == "full":
    memorisation.enforce(verdict, allow_near_copies, "set allow_near_copies: true in params/full/15_memorisation.yml")
glue("mem_guard", verdict["text"])

# %% [markdown]
# **Guard:** {glue:text}`mem_guard`
#
# ## What this run shows
# Of the {glue:text}`mem_n_methods` methods checked ({glue:text}`profile` profile), the highest
# copy rate is {glue:text}`mem_worst_method`'s, {glue:text}`mem_worst_rate:.2f` (one-sided
# p = {glue:text}`mem_worst_p:.3g` against the rate new images have). The two controls:
# {glue:text}`mem_reading`
#
# ## What it cannot show
# A near-copy here is near in the study encoder's features or at 32 px: a model could copy a
# patient's anatomy at a finer scale than these spaces see. On the cohort the patients are
# drawn from one phantom, so the training images themselves lie close together and the
# threshold is strict; on real radiographs the spaces and the threshold are the same, the
# distances are not.
#
# **What this chapter left out.** CheXGenBench's re-identification model is a Siamese network
# trained on real patients {cite}`packhauser2022reidentification`; here the embedding is the
# study's encoder (or Inception) and the re-identification test runs only where patients are
# known and generated from their own prompts (the over-trained model). The test images of the
# methods above come from held-out patients, so their copies can only be of other patients.
