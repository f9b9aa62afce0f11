"""What a training chapter trains, from its parameters (chapters 04, 05 and 06).

A chapter's *plan* is a list with one dict per model, in training order:

- ``name``: the model's folder under the chapter's output folder (``controlnet-canny``, ``hva-cn``);
- ``kind``: ``"controlnet"`` or ``"adapter"`` (a T2I-Adapter); ``control``: the conditioning key
  it is trained on (``radgazegen.core.vocabulary``'s names, or ``"unified"``);
- ``channels``: the control's channels (3: one map replicated to RGB; 4: the unified control);
- ``frozen``: ``(directory, control, scale)`` of trained ControlNets kept frozen and active
  (HVA-CN over Rad-CN; ``()`` for none);
- ``data``: its ``training_data.ControlDataset``; ``cfg``: its ``training.TrainConfig``;
- ``rad_cn`` / ``validated``: whether it is trained with validation images.

``train_plan`` trains a plan one way for every chapter (in this kernel, by ``accelerate launch``,
or several models at once: ``radgazegen.models.launch``), ``trained_models`` gathers the
results, and ``rad_cn_registry`` / ``hva_cn_registry`` are what the later chapters read.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from radgazegen.core.progress import log_line
from radgazegen.core.vocabulary import GAZE_CONTROL, RADIOMICS_CONTROLS
from radgazegen.models import launch, training
from radgazegen.models.training_data import ControlDataset, Item, oracle_items, run_items

#: The values of chapter 04's ``train_images``: MIMIC-CXR's train split minus the held-out
#: test images (the paper), or the split's training images (the cohort).
SD_CXR_TRAIN_IMAGES = ("mimic-train", "gaze-train")

#: Rad-CN's designs (chapter 05's ``design``): one ControlNet per map (the paper), or one
#: ControlNet on the maps stacked as channels.
RAD_CN_DESIGNS = ("unified", "per-map")


def sd_cxr_items(run, train_images: str, mimic_cxr_jpg_root: str | Path, mimic_cxr_reports_root: str | Path) -> list[Item]:
    """SD-CXR's radiograph-report training pairs (§4.1), as ``training_data.Item`` with no controls.

    ``train_images`` "mimic-train": every image of MIMIC-CXR's official train split except the
    study's held-out test images (the prompt: the report, "chest radiograph" when it has none);
    "gaze-train": the split's training images (``training_data.run_items``). Used by chapter 04."""
    from radgazegen.data import read_mimic_cxr

    if train_images == "mimic-train":
        held_out = set(run.read_split().query("split == 'test'").dicom_id)
        return [Item(r.dicom_id, r.image_path, r.report or "chest radiograph", {})
                for r in read_mimic_cxr(mimic_cxr_jpg_root, mimic_cxr_reports_root)
                if r.split == "train" and r.dicom_id not in held_out]
    if train_images == "gaze-train":
        return run_items(run, mimic_cxr_jpg_root, mimic_cxr_reports_root)
    raise ValueError(f"train_images: expected 'mimic-train' or 'gaze-train', got {train_images!r}")


def steps_of_epochs(epochs: int, n_items: int, batch_size: int, grad_accum: int) -> int:
    """Optimiser steps of ``epochs`` passes over ``n_items`` training items (the paper gives its
    lengths in epochs): ceil(epochs x items / (batch x accumulation)). Used by chapters 05 and 06."""
    return -(-epochs * n_items // (batch_size * grad_accum))


def check_rad_cn(design: str, controls: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``design`` is one of ``RAD_CN_DESIGNS`` and ``controls`` are
    radiomics controls (all four of them for the unified design, which stacks them). Used by
    chapter 05."""
    if design not in RAD_CN_DESIGNS:
        raise ValueError(f"design: expected 'unified' or 'per-map', got {design!r}")
    unknown = [c for c in controls if c not in RADIOMICS_CONTROLS]
    if unknown:
        raise ValueError(f"controls: unknown {unknown}; expected some of {RADIOMICS_CONTROLS}")
    if design == "unified" and sorted(controls) != sorted(RADIOMICS_CONTROLS):
        raise ValueError("design 'unified' stacks all four radiomics controls; use 'per-map' for a subset")


def trainer(train_processes: int, concurrent_models: int = 1) -> Callable[..., dict]:
    """The function that trains one control model: ``training.train_control`` in this kernel
    (``train_processes`` 1, with validation images), else ``launch.train_control`` on that many
    processes of ``accelerate launch``. At most one of ``train_processes`` and
    ``concurrent_models`` may exceed 1. Used by chapters 05 and 06."""
    if train_processes > 1 and concurrent_models > 1:
        raise ValueError("train_processes and concurrent_models: one of them may exceed 1, not both")
    return (training.train_control if train_processes == 1 else
            functools.partial(launch.train_control, num_processes=train_processes))


def rad_cn_plan(design: str, controls: Sequence[str], train_baselines: bool, dataset, config) -> list[dict]:
    """Chapter 05's models, in order: Rad-CN (one unified ControlNet on 4 channels, or one
    ControlNet per map on 3), then, with ``train_baselines``, a single-control ControlNet (the
    unified design only: per map, Rad-CN's own ControlNets are those) and a T2I-Adapter per
    control. Every model trains on ``dataset`` with ``config``; Rad-CN's are validated."""
    check_rad_cn(design, controls)
    common = {"frozen": (), "data": dataset, "cfg": config}
    plan = ([{"name": "rad-cn", "control": "unified", "kind": "controlnet", "channels": 4, "rad_cn": True}]
            if design == "unified" else
            [{"name": f"controlnet-{c}", "control": c, "kind": "controlnet", "channels": 3, "rad_cn": True}
             for c in controls])
    for c in controls if train_baselines else []:
        plan += [{"name": f"{k}-{c}", "control": c, "kind": k.replace("t2i-", ""), "channels": 3, "rad_cn": False}
                 for k in ("controlnet", "t2i-adapter") if not (k == "controlnet" and design == "per-map")]
    return [{**m, **common, "validated": m["rad_cn"]} for m in plan]


def hva_cn_plan(dataset, config, frozen: Sequence[tuple], *, train_baselines: bool,
                eq5: tuple[str, ControlDataset] | None = None, eq5_steps: int = 0,
                oracle: tuple[str, ControlDataset] | None = None, oracle_steps: int = 0) -> list[dict]:
    """Chapter 06's models, in order, all on the gaze control: HVA-CN over the frozen Rad-CN
    (``frozen``: its ControlNets' ``(directory, control, scale)``; validated), the gaze-only
    ControlNet and T2I-Adapter (``train_baselines``), then, without validation images, Eq. 5's
    HVA-CN (``eq5``: its name and dataset; None: not trained) for ``eq5_steps`` optimiser steps
    (0: ``config.max_steps``) and the oracle (``oracle``: name and dataset; None: not trained)
    for ``oracle_steps`` (0: as Eq. 5's)."""
    eq5_config = dataclasses.replace(config, max_steps=eq5_steps or config.max_steps, validate_every=0)
    oracle_config = dataclasses.replace(eq5_config, max_steps=oracle_steps or eq5_config.max_steps)

    def model(name: str, kind: str, data, cfg, frozen=()) -> dict:
        return {"name": name, "control": GAZE_CONTROL, "kind": kind, "channels": 3, "frozen": frozen, "data": data,
                "cfg": cfg, "validated": bool(frozen)}

    plan = [model("hva-cn", "controlnet", dataset, config, frozen)]
    plan += [model(n, k, dataset, config) for n, k in (("controlnet-hva", "controlnet"), ("t2i-adapter-hva", "adapter"))
             if train_baselines]
    plan += [model(eq5[0], "controlnet", eq5[1], eq5_config)] if eq5 is not None else []
    plan += [model(oracle[0], "controlnet", oracle[1], oracle_config)] if oracle is not None else []
    return plan


def gaze_mask_dataset(items: Sequence[Item], resolution: int, in_memory: bool = False) -> ControlDataset:
    """A dataset of items whose only control is the gaze control (Eq. 5's HVA-CN: the dilated gaze
    mask; the oracle: the finding's box), ``resolution`` pixels. Used by chapter 06."""
    return ControlDataset(items, resolution, controls=[GAZE_CONTROL], in_memory=in_memory)


def oracle_dataset(run, ground_truth_root: str | Path, eq5_items: Sequence[Item], resolution: int,
                   in_memory: bool = False) -> ControlDataset:
    """The oracle's dataset: Eq. 5's items with the finding's ground-truth box as the gaze control
    (``training_data.oracle_items``, synthetic cohort only). Used by chapter 06."""
    return gaze_mask_dataset(oracle_items(run, ground_truth_root, eq5_items), resolution, in_memory)


def train_plan(plan: Sequence[dict], sd_dir: str | Path, out_dir: str | Path, train_control: Callable[..., dict],
               workers: int = 1, validator: Callable[[dict], Callable | None] | None = None) -> list[dict]:
    """Train every model of ``plan`` (``rad_cn_plan``'s, ``hva_cn_plan``'s) on SD-CXR (``sd_dir``),
    each into ``out_dir / name``, with ``train_control`` (``trainer``'s); ``workers`` models at
    once (``launch.train_all``). ``validator(model)``: the validation-image function of a model
    whose ``validated`` is true (``radgazegen.generation.validation``). Returns the training
    results in plan order. Used by chapters 05 and 06."""
    out_dir = Path(out_dir)

    def train_here(m: dict) -> dict:
        validate = validator(m) if validator is not None and m["validated"] else None
        return train_control(sd_dir, m["data"], m["cfg"], out_dir / m["name"], m["control"], kind=m["kind"],
                             conditioning_channels=m["channels"], frozen_controlnets=m["frozen"], validate=validate)

    def job_of(m: dict) -> Path:
        return launch.write_job(sd_dir, m["data"], m["cfg"], out_dir / m["name"], m["control"], m["kind"], m["channels"],
                                frozen_controlnets=m["frozen"])

    return launch.train_all(plan, train_here, job_of, workers)


def log_benchmark(name: str, result: dict) -> None:
    """Write a trained model's benchmark line (``training.benchmark_line``: steps, seconds, peak
    memory) to the run's log, not the chapter. Used by chapters 04, 05 and 06."""
    log_line(training.benchmark_line(name, result))


def trained_models(plan: Sequence[dict], results: Sequence[dict]) -> tuple[dict, dict, dict, dict]:
    """(logs, trained, specs, validation) of a trained plan, each keyed by model name in plan order:
    the loss log (``pd.DataFrame`` with columns step, loss, ...), the final model's folder
    (``str``), the spec ``control_gain.gain_table`` scores (name, folder, kind, control, frozen)
    and the validation images' paths. Writes each model's benchmark line to the run's log.
    Used by chapters 05 and 06."""
    logs, trained, specs, validation = {}, {}, {}, {}
    for m, result in zip(plan, results):
        name = m["name"]
        logs[name], validation[name] = pd.DataFrame(result["metrics"]), result["validation"]
        trained[name] = str(result["final"])
        specs[name] = {"name": name, "folder": trained[name], "kind": m["kind"], "control": m["control"], "frozen": m["frozen"]}
        log_benchmark(name, result)
    return logs, trained, specs, validation


def rad_cn_registry(design: str, controls: Sequence[str], trained: Mapping[str, str], resolution: int,
                    profile: str) -> dict:
    """Chapter 05's registry (``05_rad_cn/models.json``): Rad-CN (design, control names, its
    ControlNets' folders in the controls' order), every trained model's folder, the resolution
    (pixels) and the profile. Read by chapters 06 onwards."""
    unified = design == "unified"
    rad_cn = {"design": design, "controls": ["unified"] if unified else list(controls),
              "controlnets": [trained["rad-cn"]] if unified else [trained[f"controlnet-{c}"] for c in controls]}
    return {"rad-cn": rad_cn, "models": dict(trained), "resolution": resolution, "profile": profile}


def hva_cn_registry(trained: Mapping[str, str], logs: Mapping[str, pd.DataFrame], out_dir: str | Path,
                    side_models: Mapping[str, str], *, rad_cn_scale: float, resolution: int, profile: str) -> dict:
    """Chapter 06's registry (``06_hva_cn/models.json``): HVA-CN's folder, the methods' models
    (``trained`` less ``side_models``), Rad-CN's scale, the resolution (pixels), the profile,
    each gaze model's control (``side_models``: name -> its control, "mask" or "box"), and for
    each trained side model (chapter 13's primary test, not a method of the tables) its
    checkpoints' folders, its optimiser steps and, at the top level, its final folder."""
    from radgazegen.models.checkpoints import checkpoints

    extra = {n: trained[n] for n in side_models if n in trained}
    methods = {n: f for n, f in trained.items() if n not in extra}
    registry = {"hva-cn": methods["hva-cn"], "models": methods, "rad_cn_scale": rad_cn_scale, "resolution": resolution,
                "profile": profile, "controls_of": {"hva-cn": "hypothesis", **side_models},
                "checkpoints": {n: [str(p / "model") for p in checkpoints(Path(out_dir) / n)] for n in extra},
                "steps": {n: int(logs[n].step.max()) for n in extra}}
    return registry | extra
