"""Topping up the long tail with generated images (Table 4, §4.2.3).

Every medium and tail class of MIMIC-CXR-LT with fewer than
``augment_to`` training images gets generated ones: each takes a report of a training image of
its class as prompt, the radiomics maps and lung mask of a random training image, and a
gaze-guided hypothesis of its class (chapter 03) when one exists, else a random one.

- ``lt_class(record, classes)``: a record's class (its highest label);
- ``class_counts``, ``top_up_need``: training images per class, generated images per class;
- ``top_up_plan``: the drawn (class, prompt, radiomics item, hypothesis) of every generated image;
- ``plan_batch``: the plan as one ``training_data.Batch``; ``sample_top_ups``: each method's
  images of the plan, written with their manifest.

Used by chapter 11.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from radgazegen.core.labels import LT_MEDIUM, LT_TAIL
from radgazegen.core.progress import tqdm
from radgazegen.core.vocabulary import CONTROLS, HVA


def lt_class(record, classes: Sequence[str]) -> int:
    """Index in ``classes`` of the record's class: the label with the highest value in
    ``record.labels`` (the first such in label order). Used by chapter 11."""
    return list(classes).index(max(record.labels, key=record.labels.get))


def class_counts(records: Sequence, classes: Sequence[str]) -> pd.Series:
    """Images per class (``lt_class``), indexed by ``classes`` in their order, 0 for an absent
    class; int. Used by chapter 11."""
    return pd.Series([classes[lt_class(r, classes)] for r in records]).value_counts().reindex(classes, fill_value=0)


def top_up_need(counts: pd.Series, augment_to: int, topped: Sequence[str] = (*LT_MEDIUM, *LT_TAIL)) -> dict[str, int]:
    """Generated images per class: ``max(0, augment_to - counts[k])`` for each class of
    ``topped`` (the authors' medium and tail classes, in that order); head classes get none.
    Used by chapter 11."""
    return {k: max(0, augment_to - int(counts[k])) for k in topped}


def top_up_plan(need: Mapping[str, int], train_records: Sequence, classes: Sequence[str], reports: Mapping[str, str],
                pool: Sequence, hypotheses: pd.DataFrame, rng: np.random.Generator) -> list[tuple]:
    """What each generated image is made from: ``(class, prompt, radiomics item, hypothesis control path)``.

    need: class -> images (``top_up_need``), in generation order. train_records: the
    MIMIC-CXR-LT training records (``lt_class``); reports: dicom_id -> report text; a class
    with no report text prompts "<class>.". pool: ``training_data.Item``s whose radiomics
    maps and lung mask are drawn; hypotheses: training hypotheses (columns finding,
    control_path, index 0..n-1), of the class when it has any, else any. Per image, ``rng``
    draws the prompt, then the item, then the hypothesis (``integers``). Used by chapter 11.
    """
    plan = []
    for k, n in need.items():
        texts = [reports.get(r.dicom_id, "") for r in train_records if classes[lt_class(r, classes)] == k]
        texts = [t for t in texts if t] or [f"{k}."]
        own = hypotheses[hypotheses.finding == k]
        for _ in range(n):
            h = own if len(own) else hypotheses
            plan.append((k, texts[rng.integers(len(texts))], pool[rng.integers(len(pool))],
                         Path(h.control_path.iloc[rng.integers(len(h))])))
    return plan


def plan_batch(plan: Sequence[tuple], resolution: int):
    """The plan as one ``training_data.Batch`` at ``resolution`` (item ``gen-<i>``: the drawn
    item's radiomics controls with the drawn hypothesis as HVA map, every control of
    ``CONTROLS``); None for an empty plan. Used by chapter 11."""
    from radgazegen.models import training_data

    items = [training_data.Item(f"gen-{i}", it.image_path, prompt, {**it.controls, HVA: hpath})
             for i, (k, prompt, it, hpath) in enumerate(plan)]
    return training_data.ControlDataset(items, resolution, controls=CONTROLS)(np.arange(len(items))) if items else None


def sample_top_ups(sampler, chosen: Sequence, batch, plan: Sequence[tuple], classes: Sequence[str], seed: int,
                   steps: int, guidance: float, resolution: int, folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The training images each augmentation adds: name -> (``(M, R, R)`` uint8 images, ``(M,)`` class indices).

    "no augmentation" adds none; each ``chosen`` method (``None`` entries skipped) samples the
    plan's ``batch`` (``plan_batch``; image ``i`` with seed ``seed + i``) with ``sampler`` (a
    ``generation.Sampler``) and writes it to ``folder / method.folder`` (manifest columns
    class, prompt, seed, model); with an empty plan (``batch`` None) every method adds none.
    Used by chapter 11.
    """
    from radgazegen.generation import write_generation

    augment = {"no augmentation": (np.zeros((0, resolution, resolution), np.uint8), np.zeros(0, int))}
    for method in tqdm([m for m in chosen if m is not None], desc="methods", disable=None):
        if batch is None:
            augment[method.name] = augment["no augmentation"]
            continue
        images = sampler.sample(method, batch.prompts, batch.conditioning, seeds=[seed + i for i in range(len(plan))],
                                steps=steps, guidance=guidance, resolution=resolution)
        write_generation(Path(folder) / method.folder, images,
                         [{"class": k, "prompt": p, "seed": seed + i, "model": method.name}
                          for i, (k, p, _, _) in enumerate(plan)])
        augment[method.name] = (images, np.array([classes.index(k) for k, *_ in plan]))
    return augment
