"""One training loop for SD-CXR, Rad-CN and HVA-CN (§3.1-3.2.2), on accelerate.

- **SD-CXR**: the U-Net of Stable Diffusion fine-tuned on radiographs x and their reports c
  (epsilon prediction, MSE on the noise).
- **Rad-CN** / any single-control ControlNet: a ControlNet F^R_θ initialised from SD-CXR's
  U-Net, trained with the U-Net, VAE and text encoder frozen (L_R-CN, Eq. 4).
- **HVA-CN**: a ControlNet F^V_θ on the gaze control V, trained while frozen ControlNets (the
  trained Rad-CN) stay active: their residuals are added to HVA-CN's before the U-Net, the ⊕
  of Eq. 6 (L_HVA-CN, Eq. 5; §3.2.2).
- **T2I-Adapter** (a baseline): an adapter whose features enter the frozen U-Net's down blocks.

The loss, ``|| ε - ε_θ(z_t, t, c, R) ||²`` (Eq. 4 / Eq. 5), and the mode (U-Net / ControlNet /
adapter) chosen once per run are ``objective.NoiseObjective``'s.

``train(...)`` handles mixed precision, gradient accumulation, gradient checkpointing,
max-grad-norm clipping, checkpoints every ``checkpoint_every`` optimiser steps and resuming
from the last one, a metrics log (``metrics.jsonl``) and tqdm progress. It runs on CPU, one
GPU, or several through ``accelerate launch``.

Determinism: the batch and the noise of optimiser step ``s`` come from generators seeded by
``(seed, s)``, so a run resumed from a checkpoint ends with the same weights as an
uninterrupted one; with fp16 the loss scaler's state is checkpointed too. Checkpoints
(``checkpoints``) hold only safetensors and JSON: nothing is unpickled.

Several processes (``accelerate launch``, data parallel): ``batch_size`` is the global
micro-batch; each of the N processes trains on its ``batch_size / N`` rows of it (with the same
noise per item as one process would draw) and DDP averages the gradients, so N processes
follow one process's run up to floating-point summation order. The loss logged is the mean
over processes; only the main process writes (checkpoints, set-aside checkpoints, validation
images, the final model, ``metrics.jsonl``).
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from radgazegen.core.progress import tqdm

from radgazegen.core.io import write_bytes, write_json, write_text
from radgazegen.models.checkpoints import checkpoints, fingerprint, resume_run, save_checkpoint
from radgazegen.models.objective import Batch, NoiseObjective


@dataclass
class TrainConfig:
    """Training settings (paper §4.1 / authors' values in ``params/full``).

    max_steps: optimiser steps; batch_size: images per micro-batch, over all processes (each of
    N processes of ``accelerate launch`` takes ``batch_size / N``); grad_accum: micro-batches
    per optimiser step; lr: AdamW learning rate; mixed_precision: "no" | "fp16" | "bf16";
    checkpoint_every: optimiser steps between checkpoints (0 = only at the end);
    keep_checkpoints: how many to keep; log_every: steps between metric records;
    validate_every: optimiser steps between validation images (0 = none).
    proportion_empty_prompts: share of training prompts replaced by the empty prompt
        (diffusers' ``proportion_empty_prompts``), so that the unconditional branch that
        classifier-free guidance samples with is trained too; 0 = never.
    cache_encodings: encode each training image (VAE posterior) and prompt (text states) once,
        alone, and reuse them (the VAE and text encoder are frozen); for CPUs (``lesson``).
    """
    max_steps: int = 100
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-5
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    log_every: int = 1
    validate_every: int = 0
    seed: int = 0
    proportion_empty_prompts: float = 0.0
    cache_encodings: bool = False

    @classmethod
    def from_parameters(cls, parameters: Mapping, **overrides) -> "TrainConfig":
        """The config a training chapter (04, 05, 06) declares: each field that the chapter's
        parameters (its namespace, ``globals()``) set, then ``overrides``; the others keep
        their defaults here."""
        names = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in parameters.items() if k in names}, **overrides})

    def __post_init__(self):
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision: expected 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")
        if not 0 <= self.proportion_empty_prompts <= 1:
            raise ValueError(f"proportion_empty_prompts: expected a fraction in [0, 1], got {self.proportion_empty_prompts!r}")
        for name in ("max_steps", "batch_size", "grad_accum"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")


# ----------------------------------------------------------------------------- the loop
def accelerator(mixed_precision: str = "no", grad_accum: int = 1):
    """An ``accelerate.Accelerator`` for one training run in this process.

    Accelerate keeps its state in a process-wide singleton that refuses a second
    ``mixed_precision``; a notebook or test session trains several models, so in a
    single-process run the previous state is reset first. Under ``accelerate launch``
    (several processes) the launcher's state is kept and a conflicting precision raises
    accelerate's own error.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    if AcceleratorState._shared_state and PartialState().num_processes == 1:
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed_precision, gradient_accumulation_steps=grad_accum)


def _trained_model(parts, controlnet, adapter) -> tuple[str, torch.nn.Module]:
    """(mode, the model whose weights train): the ControlNet, the adapter, or SD-CXR's U-Net."""
    if controlnet is not None and adapter is not None:
        raise ValueError("train: give a controlnet or an adapter, not both")
    if controlnet is not None:
        return "controlnet", controlnet
    return ("adapter", adapter) if adapter is not None else ("unet", parts.unet)


def _check_setup(acc, config: TrainConfig) -> None:
    """Refuse what accelerate would not run as configured: fp16 on a CPU (accelerate accepts it but
    neither autocasts to fp16 nor scales the loss there: it has no loss scaler) and a global
    micro-batch that the processes cannot share evenly."""
    if config.mixed_precision == "fp16" and acc.device.type == "cpu" and acc.scaler is None:
        raise ValueError("mixed_precision='fp16' needs a GPU: on a CPU accelerate neither autocasts to fp16 nor "
                         "scales the loss; use 'bf16' or 'no'")
    if config.batch_size % acc.num_processes:
        raise ValueError(f"batch_size: the global micro-batch ({config.batch_size}) must split evenly over the "
                         f"{acc.num_processes} processes")


def _clear_validation(vdir: Path, start: int) -> None:
    """Validation images belong to the run being resumed: those after ``start`` (all, from step 0) go."""
    for old in sorted(vdir.glob("step-*.png")) if vdir.exists() else []:
        if start == 0 or int(old.stem.split("-")[1]) > start:
            old.unlink()


def _optimiser_step(acc, trained, optimizer, objective: NoiseObjective, dataset, n_items: int, config: TrainConfig,
                    step: int) -> list[float]:
    """One optimiser step over ``config.grad_accum`` micro-batches; the batch and noise of each
    come from generators seeded by ``(seed, step, micro)``. This process trains on its rows of each
    global micro-batch (all of it in a single process). Returns the micro-batches' losses, each
    the mean over the processes (the global micro-batch's loss)."""
    share = config.batch_size // acc.num_processes
    rows = slice(acc.process_index * share, (acc.process_index + 1) * share)
    losses = []
    for micro in range(config.grad_accum):
        rng = np.random.default_rng([config.seed, step, micro])
        idx = rng.choice(n_items, size=config.batch_size, replace=n_items < config.batch_size)
        gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        with acc.accumulate(trained):
            loss = objective(trained, dataset(idx[rows]), gen, rows, config.batch_size)
            acc.backward(loss)
            if acc.sync_gradients and config.max_grad_norm > 0:
                acc.clip_grad_norm_(trained.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
        losses.append(float(acc.reduce(loss.detach(), "mean")))
    return losses


def _validation_images(acc, trained, validate: Callable, step: int, output_dir: Path) -> None:
    """``validate(model, step)``'s ``(N, H, W)`` uint8 images side by side in ``validation/step-<step>.png``."""
    import cv2

    model = acc.unwrap_model(trained)
    model.eval()
    with torch.no_grad(), acc.autocast():
        images = validate(model, step)
    model.train()
    ok, buf = cv2.imencode(".png", np.concatenate(list(images), axis=1))
    write_bytes(output_dir / "validation" / f"step-{step:07d}.png", buf.tobytes())


def _save_final(acc, trained, output_dir: Path, metrics: list[dict], config: TrainConfig) -> Path:
    """``output_dir/final`` (``save_pretrained``), ``metrics.jsonl`` and ``train_config.json``."""
    final = output_dir / "final"
    if acc.is_main_process:
        tmp = output_dir / ".tmp-final"
        shutil.rmtree(tmp, ignore_errors=True)
        acc.unwrap_model(trained).save_pretrained(str(tmp), safe_serialization=True)
        write_text(output_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))
        write_json(output_dir / "train_config.json", asdict(config))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    return final


def train(parts, dataset: Callable[[np.ndarray], Batch], n_items: int, config: TrainConfig, output_dir: str | Path,
          controlnet=None, control_name: str | Sequence[str] | None = None,
          frozen_controlnets: Sequence[tuple[object, str, float]] = (), resume: bool = True,
          progress: bool = True, adapter=None, validate: Callable | None = None) -> dict:
    """Train the U-Net (``controlnet=None``: SD-CXR) or ``controlnet`` (Rad-CN, HVA-CN, baselines).

    parts: ``models.SDParts``; dataset(indices) -> ``Batch`` for those item indices;
    n_items: number of training items; control_name: the conditioning key(s) the ControlNet
    reads (several are stacked as channels: the "unified" control); frozen_controlnets:
    ``(controlnet, control name, scale)`` kept frozen and active (HVA-CN on top of Rad-CN).
    validate: ``validate(model, step) -> (N, H, W) uint8`` images, called every
    ``config.validate_every`` steps (and at the last step) under autocast; the images are
    written side by side to ``output_dir/validation/step-<step>.png``; ``result["validation"]``
    lists this run's series, steps before a resume included.
    adapter: a ``T2IAdapter`` to train instead (the T2I-Adapter baseline; its features are
    added inside the U-Net's down blocks).
    Writes checkpoints and ``metrics.jsonl`` under ``output_dir`` and the final model to
    ``output_dir/final`` (``save_pretrained``); under ``accelerate launch`` only the main process
    writes, and every process returns once the final model is written. Returns ``{"steps",
    "resumed_from", "final", "metrics", "validation"}``.
    """
    output_dir = Path(output_dir)
    acc = accelerator(config.mixed_precision, config.grad_accum)
    _check_setup(acc, config)
    mode, trained = _trained_model(parts, controlnet, adapter)
    frozen_nets = [c for c, _, _ in frozen_controlnets]
    for m in (parts.vae, parts.text_encoder, parts.unet, *frozen_nets):
        m.requires_grad_(False)
    trained.requires_grad_(True)
    trained.train()
    if config.gradient_checkpointing and hasattr(trained, "enable_gradient_checkpointing"):
        trained.enable_gradient_checkpointing()
    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    names = [control_name] if isinstance(control_name, str) else list(control_name or [])
    key = fingerprint(config, dataset, n_items, [trained, parts.unet, parts.vae, *frozen_nets], names)
    main = acc.is_main_process
    with acc.main_process_first():  # the main process sets aside or deletes checkpoints before the others read
        start, metrics, resumed_from = resume_run(output_dir, key, trained, optimizer, resume, progress and main,
                                                  scaler=acc.scaler, main_process=main)
    vdir = output_dir / "validation"
    if main:
        _clear_validation(vdir, start)
    trained, optimizer = acc.prepare(trained, optimizer)
    objective = NoiseObjective(parts, acc, mode, names, frozen_controlnets, config.proportion_empty_prompts,
                               config.cache_encodings)

    bar = tqdm(total=config.max_steps, initial=start, desc="training", disable=not progress or not main)
    clock = time.perf_counter()
    for step in range(start, config.max_steps):
        losses = _optimiser_step(acc, trained, optimizer, objective, dataset, n_items, config, step)
        last = step + 1 == config.max_steps
        if (step + 1) % config.log_every == 0 or last:
            metrics.append({"step": step + 1, "loss": float(np.mean(losses))})
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        if (validate is not None and config.validate_every and main
                and ((step + 1) % config.validate_every == 0 or last)):
            _validation_images(acc, trained, validate, step + 1, output_dir)
        # the processes' weights are equal after each step's gradient all-reduce: the main one saves them, no barrier
        if main and ((config.checkpoint_every and (step + 1) % config.checkpoint_every == 0) or last):
            save_checkpoint(output_dir, acc.unwrap_model(trained), optimizer, step + 1, metrics, key, acc.scaler)
            for old in checkpoints(output_dir)[:-config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
    bar.close()
    bench = {"steps": config.max_steps - start, "seconds": time.perf_counter() - clock, "batch_size": config.batch_size,
             "peak_memory_gib": peak_memory_gib(acc.device), "threads": torch.get_num_threads()}
    acc.wait_for_everyone()
    final = _save_final(acc, trained, output_dir, metrics, config)
    acc.wait_for_everyone()  # no process goes on before the final model is on disk
    return {"steps": config.max_steps, "resumed_from": resumed_from, "final": final, "metrics": metrics,
            "validation": sorted(vdir.glob("step-*.png")), "benchmark": bench}


def peak_memory_gib(device) -> float:
    """Peak memory so far, GiB: the GPU's allocations on CUDA, else the process's peak resident set."""
    if getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def benchmark_line(name: str, result: dict) -> str:
    """One line per trained model: steps/s (steps run this time, validation images included),
    images/s, peak memory, threads (``train``'s ``result["benchmark"]``)."""
    b = result.get("benchmark") or {}
    if not b.get("steps"):
        return f"benchmark {name}: no steps run (resumed at the end)"
    rate = b["steps"] / max(b["seconds"], 1e-9)
    return (f"benchmark {name}: {b['steps']} steps in {b['seconds']:.1f} s = {rate:.2f} steps/s, "
            f"{rate * b['batch_size']:.0f} images/s (batch {b['batch_size']}), peak memory {b['peak_memory_gib']:.2f} GiB, "
            f"{b['threads']} threads")


def train_control(sd_dir: str | Path, dataset, config: TrainConfig, output_dir: str | Path,
                  control_name: str | Sequence[str], kind: str = "controlnet", conditioning_channels: int = 3,
                  frozen_controlnets: Sequence[tuple[str | Path, str, float]] = (), progress: bool = True,
                  validate: Callable | None = None) -> dict:
    """Train one control model on SD-CXR (``sd_dir``): a ControlNet initialised from its U-Net, or
    a T2I-Adapter (``kind="adapter"``). frozen_controlnets: ``(directory, control name, scale)``
    of trained ControlNets kept frozen and active (HVA-CN over Rad-CN). Returns ``train``'s
    result; the model is in ``result["final"]`` (``save_pretrained``, loads with
    ``ControlNetModel`` / ``T2IAdapter.from_pretrained``)."""
    from diffusers import ControlNetModel

    from radgazegen.models import new_adapter, new_controlnet, sd_parts

    if kind not in ("controlnet", "adapter"):
        raise ValueError(f"kind: expected 'controlnet' or 'adapter', got {kind!r}")
    torch.manual_seed(config.seed)
    parts = sd_parts(str(sd_dir))
    frozen = [(ControlNetModel.from_pretrained(str(d)), name, scale) for d, name, scale in frozen_controlnets]
    if kind == "controlnet":
        return train(parts, dataset, len(dataset), config, output_dir, controlnet=new_controlnet(parts, conditioning_channels),
                     control_name=control_name, frozen_controlnets=frozen, progress=progress, validate=validate)
    return train(parts, dataset, len(dataset), config, output_dir, adapter=new_adapter(parts, conditioning_channels),
                 control_name=control_name, frozen_controlnets=frozen, progress=progress, validate=validate)


def train_vae(vae, dataset, n_items: int, steps: int, batch_size: int = 16, lr: float = 1e-3, kl_weight: float = 1e-6,
              seed: int = 0, device: str | None = None, progress: bool = True) -> list[float]:
    """Train a VAE built from scratch (the teach profile: SD-CXR's latent space needs one).

    Loss: MSE between the radiograph and its reconstruction + ``kl_weight`` x KL of the
    posterior to N(0, I) (as Stable Diffusion's autoencoder, without its GAN and perceptual
    terms). dataset(indices) -> ``Batch``; returns the loss per step. Sets
    ``vae.config.scaling_factor`` to 1 / std of the latents, as latent diffusion does.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    vae.to(device).train().requires_grad_(True)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr)
    losses = []
    for step in tqdm(range(steps), desc="VAE", disable=not progress):
        rng = np.random.default_rng([seed, step])
        x = dataset(rng.choice(n_items, size=batch_size, replace=n_items < batch_size)).pixel_values.to(device)
        post = vae.encode(x).latent_dist
        z = post.sample(generator=torch.Generator(device).manual_seed(int(rng.integers(2 ** 62))))
        loss = F.mse_loss(vae.decode(z).sample, x) + kl_weight * post.kl().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        x = dataset(np.arange(min(n_items, 64))).pixel_values.to(device)
        std = float(vae.encode(x).latent_dist.mode().std())
    vae.register_to_config(scaling_factor=1.0 / max(std, 1e-6))
    vae.to("cpu")
    return losses
