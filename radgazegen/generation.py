"""Generation with any subset of controls: RadGazeGen (Eq. 6) and the baselines.

Eq. 6 sums the residuals of the frozen Rad-CN and of HVA-CN, each scaled by its
conditioning scale, and adds them to SD-CXR's U-Net; an indicator switches each control on
or off. This is exactly what diffusers' ``MultiControlNetModel`` does inside the stock
``StableDiffusionControlNetPipeline``, so generation *is* the stock pipeline built from our
saved parts: what we generate is what a user of stock diffusers gets with the same seed.

- ``controlnet_pipeline(sd_dir, controlnets)``: SD-CXR + a list of ControlNets (UniPC by default);
- ``text_pipeline(sd_dir)``: SD-CXR alone (the text-only baseline);
- ``adapter_pipeline(sd_dir, adapter)``: the T2I-Adapter baseline;
- ``generate(pipe, prompts, controls, ...)``: a batch with one seed per prompt, returning
  ``(N, H, W)`` uint8 grayscale images;
- ``write_generation(folder, ...)``: PNGs plus ``manifest.csv`` (prompt, controls, scales, seed, model).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import pandas as pd
import torch

from radgazegen.io import write_bytes, write_text

SCHEDULERS = ("unipc", "ddim", "ddpm")


def _scheduler(name: str, sd_dir: Path):
    from diffusers import DDIMScheduler, DDPMScheduler, UniPCMultistepScheduler

    cls = {"unipc": UniPCMultistepScheduler, "ddim": DDIMScheduler, "ddpm": DDPMScheduler}.get(name)
    if cls is None:
        raise ValueError(f"scheduler: expected one of {SCHEDULERS}, got {name!r}")
    return cls.from_pretrained(str(sd_dir), subfolder="scheduler")


def _common(sd_dir: str | Path, scheduler: str, device: str, dtype):
    from radgazegen.models import sd_parts

    parts = sd_parts(str(sd_dir))
    return dict(vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer, unet=parts.unet,
                scheduler=_scheduler(scheduler, Path(sd_dir)), safety_checker=None, feature_extractor=None,
                requires_safety_checker=False)


def parts_pipeline(parts, controlnets: Sequence = (), scheduler: str = "unipc", device: str = "cpu"):
    """A stock pipeline over in-memory ``models.SDParts`` (validation during training): text-only,
    or with ``controlnets`` (``ControlNetModel`` objects)."""
    from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline

    cls = {"unipc": "UniPCMultistepScheduler", "ddim": "DDIMScheduler", "ddpm": "DDPMScheduler"}.get(scheduler)
    if cls is None:
        raise ValueError(f"scheduler: expected one of {SCHEDULERS}, got {scheduler!r}")
    import diffusers

    common = dict(vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer, unet=parts.unet,
                  scheduler=getattr(diffusers, cls).from_config(parts.scheduler.config), safety_checker=None,
                  feature_extractor=None, requires_safety_checker=False)
    nets = list(controlnets)
    if nets:
        pipe = StableDiffusionControlNetPipeline(controlnet=nets if len(nets) > 1 else nets[0], **common)
    else:
        pipe = StableDiffusionPipeline(**common)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def controlnet_pipeline(sd_dir: str | Path, controlnets: Sequence, scheduler: str = "unipc", device: str = "cpu",
                        dtype=torch.float32):
    """``StableDiffusionControlNetPipeline`` of SD-CXR (``sd_dir``) with ``controlnets``
    (``ControlNetModel`` objects or directories saved with ``save_pretrained``)."""
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    nets = [ControlNetModel.from_pretrained(str(c)) if isinstance(c, (str, Path)) else c for c in controlnets]
    if not nets:
        raise ValueError("controlnets: give at least one ControlNet (use text_pipeline for SD alone)")
    pipe = StableDiffusionControlNetPipeline(controlnet=nets if len(nets) > 1 else nets[0],
                                             **_common(sd_dir, scheduler, device, dtype))
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device) if dtype == torch.float32 else pipe.to(device, dtype)


def text_pipeline(sd_dir: str | Path, scheduler: str = "unipc", device: str = "cpu", dtype=torch.float32):
    """``StableDiffusionPipeline`` of SD-CXR: the text-only baseline."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**_common(sd_dir, scheduler, device, dtype))
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device) if dtype == torch.float32 else pipe.to(device, dtype)


def adapter_pipeline(sd_dir: str | Path, adapter, scheduler: str = "unipc", device: str = "cpu", dtype=torch.float32):
    """``StableDiffusionAdapterPipeline`` of SD-CXR with a ``T2IAdapter`` (object or directory)."""
    from diffusers import StableDiffusionAdapterPipeline, T2IAdapter

    adapter = T2IAdapter.from_pretrained(str(adapter)) if isinstance(adapter, (str, Path)) else adapter
    pipe = StableDiffusionAdapterPipeline(adapter=adapter, **_common(sd_dir, scheduler, device, dtype))
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device) if dtype == torch.float32 else pipe.to(device, dtype)


def generate(pipe, prompts: Sequence[str], controls: Sequence[torch.Tensor] | torch.Tensor | None = None,
             scales: Sequence[float] | float = 1.0, steps: int = 20, guidance: float = 7.5, seeds: Sequence[int] = (0,),
             negative_prompt: str | None = None, resolution: int = 512, batch_size: int = 8) -> np.ndarray:
    """Generate one image per prompt: ``(N, H, W)`` uint8 grayscale (mean of the RGB output).

    controls: per ControlNet a ``(N, C, R, R)`` tensor in [0, 1] (one tensor for a single
    ControlNet or an adapter); scales: conditioning scale per ControlNet; seeds: one per
    prompt. Prompts go through the pipeline ``batch_size`` at a time, each with its own
    generator, so image i depends only on (prompt i, controls i, seed i), not on the batching.
    """
    if len(seeds) != len(prompts):
        raise ValueError(f"seeds: expected one per prompt ({len(prompts)}), got {len(seeds)}")
    single = isinstance(controls, torch.Tensor) or (controls is not None and len(controls) == 1)
    out = []
    for a in range(0, len(prompts), batch_size):
        b = min(len(prompts), a + batch_size)
        kw = dict(prompt=list(prompts[a:b]), num_inference_steps=steps, guidance_scale=guidance, height=resolution,
                  width=resolution, negative_prompt=[negative_prompt] * (b - a) if negative_prompt else None,
                  output_type="np", generator=[torch.Generator().manual_seed(int(s)) for s in seeds[a:b]])
        if controls is not None:
            if isinstance(controls, torch.Tensor):
                kw["image"] = controls[a:b]
            else:
                kw["image"] = controls[0][a:b] if single else [c[a:b] for c in controls]
            sc = list(scales) if isinstance(scales, (list, tuple)) else [scales]
            if hasattr(pipe, "controlnet"):
                kw["controlnet_conditioning_scale"] = float(sc[0]) if single else [float(x) for x in sc]
            else:
                kw["adapter_conditioning_scale"] = float(sc[0])
        images = pipe(**kw).images
        out.extend(np.clip(im.mean(axis=-1) * 255.0, 0, 255).round().astype(np.uint8) for im in images)
    return np.stack(out)


def write_generation(folder: str | Path, images: np.ndarray, rows: Sequence[dict]) -> pd.DataFrame:
    """Write ``images`` as ``<folder>/<i>.png`` and ``manifest.csv`` (one row per image: file plus
    ``rows[i]``: prompt, controls, scales, seed, model...). Atomic per file; returns the manifest."""
    folder = Path(folder)
    records = []
    for i, (image, row) in enumerate(zip(images, rows)):
        name = f"{i:05d}.png"
        ok, buf = cv2.imencode(".png", image)
        write_bytes(folder / name, buf.tobytes())
        records.append({"file": name, **{k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in row.items()}})
    manifest = pd.DataFrame(records)
    write_text(folder / "manifest.csv", manifest.to_csv(index=False))
    return manifest


def radgazegen_spec(rad: dict, hva: dict | None, active: Sequence[str], rad_cn_scale: float = 1.0,
                    hva_cn_scale: float = 1.0) -> dict:
    """RadGazeGen with a subset of its controls switched on (the indicator of Eq. 6).

    rad, hva: notebook 05's and 06's ``models.json``; active: control names among
    ``canny, sobel, gl, segmentation, hva``. Per-map Rad-CN: the ControlNets of inactive maps
    are dropped (exactly the indicator). Unified Rad-CN: its inactive channels are zeroed
    (control ``"unified:<maps>"``; the ControlNet still sees the active ones). Returns
    ``{"controlnets", "controls", "scales"}`` for ``control_tensors`` and ``generate``.
    """
    from radgazegen.training_data import GAZE_CONTROL, RADIOMICS_CONTROLS

    unknown = [a for a in active if a not in (*RADIOMICS_CONTROLS, GAZE_CONTROL)]
    if unknown:
        raise ValueError(f"active: unknown control(s) {unknown}; expected {[*RADIOMICS_CONTROLS, GAZE_CONTROL]}")
    maps = [c for c in RADIOMICS_CONTROLS if c in active]
    nets, controls = [], []
    if maps:
        if rad["rad-cn"]["design"] == "unified":
            nets = list(rad["rad-cn"]["controlnets"])
            controls = ["unified" if len(maps) == len(RADIOMICS_CONTROLS) else "unified:" + "+".join(maps)]
        else:
            pairs = dict(zip(rad["rad-cn"]["controls"], rad["rad-cn"]["controlnets"]))
            nets, controls = [pairs[m] for m in maps], list(maps)
    scales = [rad_cn_scale] * len(nets)
    if GAZE_CONTROL in active:
        if hva is None:
            raise ValueError("active: 'hva' needs HVA-CN (notebook 06's models.json)")
        nets, controls, scales = [*nets, hva["hva-cn"]], [*controls, GAZE_CONTROL], [*scales, hva_cn_scale]
    return {"controlnets": nets, "controls": controls, "scales": scales}


def control_tensors(conditioning: dict[str, torch.Tensor], names: Sequence[str]) -> list[torch.Tensor]:
    """The control tensors for ``names`` from a ``Batch.conditioning``; ``"unified:a+b"`` is the
    unified control with every channel but maps a and b set to zero."""
    from radgazegen.training_data import RADIOMICS_CONTROLS

    out = []
    for name in names:
        if name.startswith("unified:"):
            keep = name.split(":", 1)[1].split("+")
            x = conditioning["unified"].clone()
            for j, c in enumerate(RADIOMICS_CONTROLS):
                if c not in keep:
                    x[:, j] = 0
            out.append(x)
        else:
            out.append(conditioning[name])
    return out


def read_generation(folder: str | Path) -> tuple[np.ndarray, pd.DataFrame]:
    """Images ``(N, H, W)`` uint8 and the manifest written by ``write_generation``."""
    folder = Path(folder)
    path = folder / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: generation manifest missing (run notebook 07 first)")
    manifest = pd.read_csv(path)
    images = []
    for f in manifest["file"]:
        im = cv2.imread(str(folder / f), cv2.IMREAD_GRAYSCALE)
        if im is None:
            raise ValueError(f"{folder / f}: generated image missing or corrupt (field 'file' of {path})")
        images.append(im)
    return np.stack(images), manifest


def folder_name(method: str) -> str:
    """A method's folder under a generation directory: ``"Multi-ControlNet (canny + hva)"`` ->
    ``"multi-controlnet-canny-hva"``."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", method.lower()).strip("-")


def trained_models(run_dir: str | Path) -> tuple[Path, dict, dict]:
    """``(SD-CXR directory, Rad-CN models.json, HVA-CN models.json)`` of a run (notebooks 04-06);
    a missing index raises naming the file and the notebook that writes it."""
    run_dir = Path(run_dir)
    out = []
    for nb in ("05_rad_cn", "06_hva_cn"):
        path = run_dir / nb / "models.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; run notebook {nb} first")
        out.append(json.loads(path.read_text()))
    return run_dir / "04_sd_cxr" / "model", out[0], out[1]
