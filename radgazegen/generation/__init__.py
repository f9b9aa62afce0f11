"""Generation with any subset of controls: RadGazeGen (Eq. 6) and the baselines.

Eq. 6 sums the residuals of the frozen Rad-CN and of HVA-CN, each scaled by its
conditioning scale, and adds them to SD-CXR's U-Net; an indicator switches each control on
or off. This is exactly what diffusers' ``MultiControlNetModel`` does inside the stock
``StableDiffusionControlNetPipeline``, so generation *is* the stock pipeline built from our
saved parts: what we generate is what a user of stock diffusers gets with the same seed.

- ``Sampler(sd_dir)``: SD-CXR loaded once (a stock ``StableDiffusionPipeline``); each method's
  pipeline built on its parts, each ControlNet / adapter loaded once;
  ``Sampler.sample(method, prompts, conditioning, ...)`` samples any ``methods.Method``;
- ``controlnet_pipeline(sd_dir, controlnets)``, ``text_pipeline(sd_dir)``,
  ``adapter_pipeline(sd_dir, adapter)``, ``parts_pipeline(parts)``: one pipeline, loading
  SD-CXR for it (tests, benchmarks, one-off use);
- ``generate(pipe, prompts, controls, ...)``: a batch with one seed per prompt, returning
  ``(N, H, W)`` uint8 grayscale images; ``generate_across_processes``: the same images, the
  prompts shared out over the processes of ``accelerate launch`` and gathered back;
- ``control_tensors(conditioning, inputs)``: the control tensors a method's models read;
- ``write_generation(folder, ...)``: PNGs plus ``manifest.csv`` (prompt, controls, scales, seed, model).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import pandas as pd
import torch

from radgazegen.core.io import write_bytes, write_text
from radgazegen.generation.methods import ADAPTER, CONTROLNET, TEXT
from radgazegen.core.vocabulary import RADIOMICS_CONTROLS, UNIFIED, unified_maps

SCHEDULERS = {"unipc": "UniPCMultistepScheduler", "ddim": "DDIMScheduler", "ddpm": "DDPMScheduler"}


class Sampler:
    """Samples any generation method from one SD-CXR, loaded once.

    sd: SD-CXR, a folder saved in diffusers layout (``models.save_sd_parts``; loaded as a stock
    ``StableDiffusionPipeline``), or ``models.SDParts`` in memory (validation during training).
    scheduler: sampler of every pipeline (``SCHEDULERS``), made from SD-CXR's scheduler config.
    Each method's pipeline is the stock pipeline class built on the base one's parts (the same
    U-Net, VAE, text encoder and tokenizer objects; a fresh scheduler each time, as a pipeline
    loaded from disk has), and each ControlNet / T2I-Adapter folder is loaded once and kept
    (``clear()`` drops them). The images are those of the stock pipeline of that method.
    """

    def __init__(self, sd, scheduler: str = "unipc", device: str = "cpu", dtype=torch.float32):
        import diffusers
        from diffusers import StableDiffusionPipeline

        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler: expected one of {tuple(SCHEDULERS)}, got {scheduler!r}")
        self.scheduler_class = getattr(diffusers, SCHEDULERS[scheduler])
        self.device, self.dtype = device, dtype
        common = dict(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        if isinstance(sd, (str, Path)):
            from radgazegen.models import check_sd_directory

            base = StableDiffusionPipeline.from_pretrained(str(check_sd_directory(sd)), use_safetensors=True,
                                                           local_files_only=True, dtype=dtype, **common)
        else:
            base = StableDiffusionPipeline(vae=sd.vae, text_encoder=sd.text_encoder, tokenizer=sd.tokenizer, unet=sd.unet,
                                           scheduler=sd.scheduler, **common)
        self.base = base.to(device) if dtype == torch.float32 else base.to(device, dtype)
        self._loaded: dict[tuple[str, str], object] = {}

    def _model(self, kind: str, model):
        """A ControlNet / adapter: an object as is, a folder loaded once (then kept)."""
        if not isinstance(model, (str, Path)):
            return model
        key = (kind, str(model))
        if key not in self._loaded:
            from diffusers import ControlNetModel, T2IAdapter

            cls = ControlNetModel if kind == CONTROLNET else T2IAdapter
            loaded = cls.from_pretrained(str(model))
            self._loaded[key] = loaded.to(self.device) if self.dtype == torch.float32 else loaded.to(self.device, self.dtype)
        return self._loaded[key]

    def clear(self) -> None:
        """Drop the ControlNets and adapters loaded so far (memory)."""
        self._loaded.clear()

    def pipeline(self, controlnets: Sequence = (), adapter=None):
        """The stock pipeline of SD-CXR alone, with ``controlnets`` (``StableDiffusionControlNetPipeline``;
        several: ``MultiControlNetModel``) or with ``adapter`` (``StableDiffusionAdapterPipeline``);
        models as objects or folders saved with ``save_pretrained``."""
        from diffusers import StableDiffusionAdapterPipeline, StableDiffusionControlNetPipeline, StableDiffusionPipeline

        scheduler = self.scheduler_class.from_config(self.base.scheduler.config)
        nets = [self._model(CONTROLNET, c) for c in controlnets]
        if nets and adapter is not None:
            raise ValueError("give ControlNets or an adapter, not both")
        # the base pipeline's own parts, shared (not ``from_pipe``: it re-casts every part to a dtype,
        # and diffusers then warns about float32 modules even when the list of them is empty)
        b = self.base
        common = dict(vae=b.vae, text_encoder=b.text_encoder, tokenizer=b.tokenizer, unet=b.unet, scheduler=scheduler,
                      safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        if nets:
            pipe = StableDiffusionControlNetPipeline(controlnet=nets if len(nets) > 1 else nets[0], **common)
        elif adapter is not None:
            pipe = StableDiffusionAdapterPipeline(adapter=self._model(ADAPTER, adapter), **common)
        else:
            pipe = StableDiffusionPipeline(**common)
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(self.device)  # models given as objects (e.g. the one being trained) join SD-CXR's device

    def method_pipeline(self, method):
        """The pipeline of a ``methods.Method`` (its kind and model folders)."""
        if method.kind != TEXT and not method.model_dirs:
            raise ValueError(f"method {method.name!r}: no model folders (a catalogue entry? build the run's registry)")
        if method.kind == CONTROLNET:
            return self.pipeline(controlnets=method.model_dirs)
        if method.kind == ADAPTER:
            return self.pipeline(adapter=method.model_dirs[0])
        return self.pipeline()

    def sample(self, method, prompts: Sequence[str], conditioning: Mapping[str, torch.Tensor] | None = None,
               seeds: Sequence[int] = (0,), steps: int = 20, guidance: float = 7.5, negative_prompt: str | None = None,
               resolution: int = 512, batch_size: int | None = None) -> np.ndarray:
        """``method``'s images of ``prompts``: ``(N, H, W)`` uint8, as ``generate`` makes them.

        conditioning: control name -> ``(N, C, R, R)`` in [0, 1] (a ``Batch.conditioning``, or
        ``training_data.conditioning``'s), from which the method's ``inputs`` are taken (unused
        by text-only methods); scales are the method's.
        """
        pipe = self.method_pipeline(method)
        controls, scales = None, 1.0
        if method.kind != TEXT:
            if conditioning is None:
                raise ValueError(f"method {method.name!r} needs conditioning {list(method.inputs)}")
            controls = control_tensors(conditioning, method.inputs)
            controls, scales = (controls[0] if method.kind == ADAPTER else controls), list(method.scales)
        return generate(pipe, prompts, controls, scales=scales, steps=steps, guidance=guidance, seeds=seeds,
                        negative_prompt=negative_prompt, resolution=resolution, batch_size=batch_size)


def parts_pipeline(parts, controlnets: Sequence = (), scheduler: str = "unipc", device: str = "cpu"):
    """A stock pipeline over in-memory ``models.SDParts``: text-only, or with ``controlnets``
    (``ControlNetModel`` objects)."""
    return Sampler(parts, scheduler, device).pipeline(controlnets=controlnets)


def controlnet_pipeline(sd_dir: str | Path, controlnets: Sequence, scheduler: str = "unipc", device: str = "cpu",
                        dtype=torch.float32):
    """``StableDiffusionControlNetPipeline`` of SD-CXR (``sd_dir``) with ``controlnets``
    (``ControlNetModel`` objects or directories saved with ``save_pretrained``)."""
    if not list(controlnets):
        raise ValueError("controlnets: give at least one ControlNet (use text_pipeline for SD alone)")
    return Sampler(sd_dir, scheduler, device, dtype).pipeline(controlnets=controlnets)


def text_pipeline(sd_dir: str | Path, scheduler: str = "unipc", device: str = "cpu", dtype=torch.float32):
    """``StableDiffusionPipeline`` of SD-CXR: the text-only baseline."""
    return Sampler(sd_dir, scheduler, device, dtype).pipeline()


def adapter_pipeline(sd_dir: str | Path, adapter, scheduler: str = "unipc", device: str = "cpu", dtype=torch.float32):
    """``StableDiffusionAdapterPipeline`` of SD-CXR with a ``T2IAdapter`` (object or directory)."""
    return Sampler(sd_dir, scheduler, device, dtype).pipeline(adapter=adapter)


#: Prompts per pipeline call by device type: small on a CPU (memory), large on a GPU, where
#: the small models of smoke/teach are bound by per-call overhead, not arithmetic. A CPU's
#: batch grows as the image shrinks below 256 px (the same pixels per call), up to 64.
BATCH_SIZE = {"cpu": 8, "cuda": 128}


def default_batch_size(pipe, resolution: int = 512) -> int:
    """Prompts per pipeline call on ``pipe``'s device (``BATCH_SIZE``; 8 for other devices)."""
    device = getattr(getattr(pipe, "device", None), "type", "cpu")
    base = BATCH_SIZE.get(device, 8)
    return min(64, base * max(1, (256 // max(1, resolution)) ** 2)) if device == "cpu" else base


def generate(pipe, prompts: Sequence[str], controls: Sequence[torch.Tensor] | torch.Tensor | None = None,
             scales: Sequence[float] | float = 1.0, steps: int = 20, guidance: float = 7.5, seeds: Sequence[int] = (0,),
             negative_prompt: str | None = None, resolution: int = 512, batch_size: int | None = None) -> np.ndarray:
    """Generate one image per prompt: ``(N, H, W)`` uint8 grayscale (mean of the RGB output).

    controls: per ControlNet a ``(N, C, R, R)`` tensor in [0, 1] (one tensor for a single
    ControlNet or an adapter); scales: conditioning scale per ControlNet (one number: the same
    for every ControlNet; a list of another length is refused); seeds: one per prompt. Prompts go through the pipeline ``batch_size`` at a time, each with its own
    generator, so image i depends only on (prompt i, controls i, seed i), not on the batching.
    ``batch_size`` None: ``default_batch_size`` of the pipeline's device and ``resolution``.
    """
    batch_size = batch_size or default_batch_size(pipe, resolution)
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
            # one scale per control: a single number applies to every ControlNet (diffusers' MultiControlNetModel
            # zips scales with its nets, so a shorter list would silently leave the later ControlNets out)
            n_controls = 1 if single or isinstance(controls, torch.Tensor) else len(controls)
            sc = list(scales) if isinstance(scales, (list, tuple)) else [scales] * n_controls
            if len(sc) != n_controls:
                raise ValueError(f"generate: {len(sc)} conditioning scale(s) for {n_controls} controls: give one per control")
            if hasattr(pipe, "controlnet"):
                kw["controlnet_conditioning_scale"] = float(sc[0]) if single else [float(x) for x in sc]
            else:
                kw["adapter_conditioning_scale"] = float(sc[0])
        images = pipe(**kw).images
        out.extend(np.clip(im.mean(axis=-1) * 255.0, 0, 255).round().astype(np.uint8) for im in images)
    return np.stack(out)


def generate_across_processes(pipe, prompts: Sequence[str], controls: Sequence[torch.Tensor] | torch.Tensor | None = None,
                              seeds: Sequence[int] = (0,), resolution: int = 512, **kwargs) -> np.ndarray:
    """``generate``'s ``(N, H, W)`` uint8 images, the prompts shared out over the processes of
    ``accelerate launch`` and gathered back, in order, in every process.

    Each process generates its contiguous share of the prompts (accelerate's
    ``split_between_processes``: the first processes take one more when N does not divide) with
    their controls and seeds; ``gather_object`` returns the shares in process order. Image i
    depends only on (prompt i, controls i, seed i), so the images are one process's. A single
    process: ``generate``. ``kwargs``: ``generate``'s (scales, steps, guidance, ...).
    """
    from accelerate import PartialState
    from accelerate.utils import gather_object, parse_flag_from_env

    if len(seeds) != len(prompts):
        raise ValueError(f"seeds: expected one per prompt ({len(prompts)}), got {len(seeds)}")
    # ACCELERATE_USE_CPU (CPU launches) is read by accelerate's AcceleratorState, not by PartialState alone
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    with state.split_between_processes(list(range(len(prompts)))) as mine:
        share = slice(mine[0], mine[-1] + 1) if mine else slice(0, 0)
    if isinstance(controls, torch.Tensor):
        controls = controls[share]
    elif controls is not None:
        controls = [c[share] for c in controls]
    images = (generate(pipe, list(prompts[share]), controls, seeds=list(seeds[share]), resolution=resolution, **kwargs)
              if mine else np.zeros((0, resolution, resolution), np.uint8))
    return np.concatenate(gather_object([images]))


#: Seeds of consecutive replicates are this far apart: image ``i`` of replicate ``r`` is sampled
#: with ``seed + REPLICATE_STRIDE r + i``, the same for every method (chapters 07, 10, 13).
REPLICATE_STRIDE = 1000


def replicate_seeds(seed: int, replicate: int, n: int) -> list[int]:
    """Seeds of the ``n`` images of replicate ``replicate``: ``seed + 1000 replicate + i``."""
    return [seed + REPLICATE_STRIDE * replicate + i for i in range(n)]


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


def control_tensors(conditioning: Mapping[str, torch.Tensor], inputs: Sequence[str]) -> list[torch.Tensor]:
    """The control tensors of ``inputs`` (a method's) from a conditioning dict (``Batch.conditioning``);
    a ``vocabulary.unified_key`` with channels off is the unified control with those channels
    set to zero."""
    out = []
    for name in inputs:
        kept = unified_maps(name)
        if kept is None or name == UNIFIED:
            out.append(conditioning[name])
            continue
        x = conditioning[UNIFIED].clone()
        for j, c in enumerate(RADIOMICS_CONTROLS):
            if c not in kept:
                x[:, j] = 0
        out.append(x)
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
