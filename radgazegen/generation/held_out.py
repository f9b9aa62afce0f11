"""Generation over a held-out set (Table 3, §4.2.2): one image per test radiograph, from its
report and its controls, with the gaze control picked from the prompt alone.

A held-out set has no gaze, so the HVA control of a test image is the training hypothesis of
the first finding its report names (``hypotheses.hypothesis_for_report``); the image's labels
are never read. A report that names no finding with a hypothesis gets no gaze control: a
method that sees the gaze (``Method.uses_gaze``) then runs as Rad-CN on that image (Eq. 6's
HVA indicator off). ``gaze_groups`` makes that split, ``sample_held_out`` samples one
replicate of a method over the set and ``generate_held_out`` every replicate of every
method, writing each method's images and manifest.

- ``chexpert_test_records(root, n)``: the frontal CheXpert-test records with reports;
- ``held_out_conditioning(paths, prompts, hypotheses, R)``: the controls (radiomics maps, lung
  mask, picked HVA map) as the ControlNets read them, and which images got a gaze control;
- seeds: image ``i`` of replicate ``r`` uses ``generation.replicate_seeds`` (``seed + 1000 r + i``).

Used by chapter 10.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from radgazegen.core.progress import tqdm
from radgazegen.core.vocabulary import HVA, SEGMENTATION
from radgazegen.generation.methods import RAD_CN, Method



def chexpert_test_records(chexpert_root: str | Path, n_test: int = -1) -> list:
    """The frontal CheXpert-test records (``data.read_chexpert``, file name containing "frontal"),
    the first ``n_test`` of them (``-1``: all). Raises ``ValueError`` when one has no report
    (``reports.csv``, field ``report``): the report is the image's prompt. Used by chapter 10."""
    from radgazegen.data import read_chexpert

    records = [r for r in read_chexpert(chexpert_root) if "frontal" in r.image_path.name]
    records = records[:n_test] if n_test >= 0 else records
    if not all(r.report for r in records):
        raise ValueError(f"{chexpert_root}/reports.csv: no report for {sum(not r.report for r in records)} image(s) (field 'report')")
    return records


def held_out_conditioning(image_paths: Sequence[Path], prompts: Sequence[str], hypotheses,
                          resolution: int) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """The conditioning of a held-out set and which of its images got a gaze control.

    image_paths: the N radiographs, read at 512 px (``training_data.read_gray``), from which
    the radiomics maps (``controls.radiomics_maps``, 512 px) and the lung mask
    (``segmentation.classical_lung_mask``) are computed. prompts: the N reports; the HVA map
    of image ``i`` is the control of ``hypothesis_for_report(prompts[i], hypotheses)`` (read
    at its own size), an all-zero ``(R, R)`` map when the report names no finding with a
    hypothesis. hypotheses: training hypotheses (columns finding, control_path).
    Returns (control name -> ``(N, C, R, R)`` float32 in [0, 1], ``training_data.conditioning``
    at ``resolution`` R; ``gazed``: ``(N,)`` bool). Used by chapter 10.
    """
    from radgazegen.controls import radiomics_maps
    from radgazegen.controls.hypotheses import hypothesis_for_report
    from radgazegen.controls.segmentation import classical_lung_mask
    from radgazegen.models import training_data

    full = np.stack([training_data.read_gray(p, 512, "CheXpert radiograph") for p in image_paths])
    maps = radiomics_maps(full, size=512)
    maps[SEGMENTATION] = np.stack([classical_lung_mask(im) for im in full])
    picked = [hypothesis_for_report(p, hypotheses) for p in prompts]  # from the prompt alone, never the labels
    gazed = np.array([p is not None for p in picked])
    maps[HVA] = [training_data.read_control(HVA, Path(p[1])) if p else np.zeros((resolution, resolution), np.uint8)
                 for p in picked]
    return training_data.conditioning(maps, resolution), gazed


def gaze_groups(method: Method, gazed: np.ndarray, registry: Mapping[str, Method]) -> list[tuple[Method, np.ndarray]]:
    """(method, image indices) pairs that together cover the ``(N,)`` bool ``gazed`` once.

    A method that does not see the gaze samples every image; one that does samples the gazed
    images, and ``registry``'s Rad-CN (looked up only then) samples the others (Eq. 6's HVA
    indicator off). Indices are int64, increasing. Used by chapter 10.
    """
    if not method.uses_gaze:
        return [(method, np.arange(len(gazed)))]
    return [(method, np.nonzero(gazed)[0]), (registry[RAD_CN], np.nonzero(~gazed)[0])]


def sample_held_out(sampler, method: Method, prompts: Sequence[str], conditioning: Mapping[str, torch.Tensor],
                    gazed: np.ndarray, registry: Mapping[str, Method], seeds: Sequence[int], steps: int,
                    guidance: float, negative_prompt: str = "", resolution: int = 512) -> np.ndarray:
    """One replicate of ``method`` over the held-out set: ``(N, R, R)`` uint8, image ``i`` from
    ``prompts[i]``, row ``i`` of each ``conditioning`` tensor and ``seeds[i]``, sampled per
    ``gaze_groups`` (``sampler``: a ``generation.Sampler``; ``negative_prompt`` "" is none).
    Used by chapter 10."""
    images = [None] * len(prompts)
    for m, idx in gaze_groups(method, gazed, registry):
        if len(idx):
            out = sampler.sample(m, [prompts[i] for i in idx], {k: v[torch.from_numpy(idx)] for k, v in conditioning.items()},
                                 seeds=[seeds[i] for i in idx], steps=steps, guidance=guidance,
                                 negative_prompt=negative_prompt or None, resolution=resolution)
            for i, image in zip(idx, out):
                images[i] = image
    return np.stack(images)


def generate_held_out(sampler, chosen: Sequence[Method | None], registry: Mapping[str, Method], prompts: Sequence[str],
                      conditioning: Mapping[str, torch.Tensor], gazed: np.ndarray, names: Sequence[str],
                      folder: str | Path, n_replicates: int, seed: int, steps: int, guidance: float,
                      negative_prompt: str = "", resolution: int = 512) -> dict[str, list[np.ndarray]]:
    """Every replicate of every ``chosen`` method (``None`` entries skipped) over the held-out set.

    Returns method name -> ``n_replicates`` arrays ``(N, R, R)`` uint8 (``sample_held_out``,
    replicate ``r`` with ``generation.replicate_seeds(seed, r, N)``). Each method's images, replicate after
    replicate, are written to ``folder / method.folder`` (``generation.write_generation``;
    manifest columns name (``names[i]``), prompt, replicate, model). Used by chapter 10.
    """
    from radgazegen.generation import replicate_seeds, write_generation

    generated = {}
    for method in tqdm([m for m in chosen if m is not None], desc="methods", disable=None):
        generated[method.name] = [sample_held_out(sampler, method, prompts, conditioning, gazed, registry,
                                                  replicate_seeds(seed, r, len(prompts)), steps, guidance,
                                                  negative_prompt, resolution) for r in range(n_replicates)]
        write_generation(Path(folder) / method.folder, np.concatenate(generated[method.name]),
                         [{"name": name, "prompt": p, "replicate": r, "model": method.name}
                          for r in range(n_replicates) for name, p in zip(names, prompts)])
    return generated
