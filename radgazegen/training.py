"""One training loop for SD-CXR, Rad-CN and HVA-CN (§3.1-3.2.2), on accelerate.

- **SD-CXR**: the U-Net of Stable Diffusion fine-tuned on radiographs and their reports
  (epsilon prediction, MSE on the noise).
- **Rad-CN** / any single-control ControlNet: a ControlNet initialised from SD-CXR's U-Net,
  trained with the U-Net, VAE and text encoder frozen.
- **HVA-CN**: a ControlNet on the gaze control, trained while frozen ControlNets (the trained
  Rad-CN) stay active: their residuals are added to HVA-CN's before the U-Net (§3.2.2).

``train(...)`` handles mixed precision, gradient accumulation, gradient checkpointing,
max-grad-norm clipping, checkpoints every ``checkpoint_every`` optimiser steps and resuming
from the last one, a metrics log (``metrics.jsonl``) and tqdm progress. It runs on CPU, one
GPU, or several through ``accelerate launch``.

Determinism: the batch and the noise of optimiser step ``s`` come from generators seeded by
``(seed, s)``, so a run resumed from a checkpoint ends with the same weights as an
uninterrupted one. Checkpoints hold only safetensors and JSON: nothing is unpickled.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from radgazegen.io import write_bytes, write_json, write_text


@dataclass
class TrainConfig:
    """Training settings (paper §4.1 / authors' values in ``params/full``).

    max_steps: optimiser steps; batch_size: images per micro-batch; grad_accum: micro-batches
    per optimiser step; lr: AdamW learning rate; mixed_precision: "no" | "fp16" | "bf16";
    checkpoint_every: optimiser steps between checkpoints (0 = only at the end);
    keep_checkpoints: how many to keep; log_every: steps between metric records;
    validate_every: optimiser steps between validation images (0 = none).
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

    def __post_init__(self):
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision: expected 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")
        for name in ("max_steps", "batch_size", "grad_accum"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")


# ----------------------------------------------------------------------------- checkpoints
def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, meta = {}, {"param_groups": sd["param_groups"], "state": {}}
    for pid, st in sd["state"].items():
        meta["state"][str(pid)] = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
                meta["state"][str(pid)][k] = "tensor"
            else:
                meta["state"][str(pid)][k] = v
    return tensors, meta


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state = {}
    for pid, st in meta["state"].items():
        state[int(pid)] = {k: (tensors[f"{pid}.{k}"] if v == "tensor" else v) for k, v in st.items()}
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(folder: Path, model, optimizer, step: int, metrics: list[dict], key: str = "") -> Path:
    """``folder/checkpoint-<step>/``: the trained model (``save_pretrained``, safetensors), the
    optimiser state (safetensors + JSON) and ``state.json``. Written to a temp folder, then renamed."""
    from safetensors.torch import save_file

    final = folder / f"checkpoint-{step:07d}"
    tmp = folder / f".tmp-checkpoint-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp / "model"), safe_serialization=True)
    tensors, meta = _optimizer_tensors(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    write_json(tmp / "optimizer.json", meta)
    write_json(tmp / "state.json", {"step": step, "metrics": metrics, "fingerprint": key})
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def fingerprint(config: TrainConfig, dataset, n_items: int, modules: Sequence[torch.nn.Module],
                names: Sequence[str]) -> str:
    """Hash of what a training run starts from: config, items, controls and initial weights.

    ``max_steps`` and the checkpoint / log cadence are left out (a run may be extended).
    A checkpoint is resumed only if its run had the same fingerprint; otherwise (new data,
    retrained SD-CXR, other settings) the folder's old checkpoints are discarded.
    """
    import hashlib

    settings = {k: v for k, v in asdict(config).items()
                if k not in ("max_steps", "checkpoint_every", "keep_checkpoints", "log_every", "validate_every")}
    h = hashlib.sha256(json.dumps({"config": settings, "n_items": n_items, "controls": list(names)},
                                  sort_keys=True).encode())
    for it in getattr(dataset, "items", []):
        h.update(f"{getattr(it, 'dicom_id', it)}|{getattr(it, 'prompt', '')}|{sorted(getattr(it, 'controls', {}).items())}".encode())
    h.update(str(getattr(dataset, "resolution", "")).encode())
    for m in modules:
        for k, v in m.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in ``folder``, oldest first."""
    return sorted(p for p in Path(folder).glob("checkpoint-*") if (p / "state.json").is_file())


# ----------------------------------------------------------------------------- the loop
@dataclass
class Batch:
    """A micro-batch. pixel_values ``(B, 3, S, S)`` in [-1, 1]; prompts: B strings;
    conditioning: control name -> ``(B, C, S, S)`` in [0, 1] (empty for SD-CXR)."""
    pixel_values: torch.Tensor
    prompts: list[str]
    conditioning: dict[str, torch.Tensor]


def fit_epochs(model: torch.nn.Module, loss_fn: Callable[[torch.Tensor], torch.Tensor], n: int, epochs: int,
               batch_size: int, optimizer, generator: torch.Generator, desc: str, progress: bool = True,
               min_batch: int = 1) -> list[float]:
    """The small models' loop (study encoder, study CLIP, classifiers, localiser): each epoch
    shuffles the ``n`` items with ``generator``, steps ``optimizer`` on ``loss_fn(indices)`` per
    mini-batch (batches smaller than ``min_batch`` are skipped: BatchNorm and contrastive losses
    need two) and records the epoch's mean loss. Returns the losses, one per epoch."""
    losses = []
    for _ in tqdm(range(epochs), desc=desc, disable=not progress):
        model.train()
        order, total = torch.randperm(n, generator=generator), 0.0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < min_batch:
                continue
            loss = loss_fn(idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    return losses


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
    ``output_dir/final`` (``save_pretrained``). Returns ``{"steps", "resumed_from", "final", "metrics"}``.
    """
    output_dir = Path(output_dir)
    acc = accelerator(config.mixed_precision, config.grad_accum)
    if controlnet is not None and adapter is not None:
        raise ValueError("train: give a controlnet or an adapter, not both")
    trained = controlnet if controlnet is not None else adapter if adapter is not None else parts.unet
    for m in (parts.vae, parts.text_encoder, parts.unet, *[c for c, _, _ in frozen_controlnets]):
        m.requires_grad_(False)
    trained.requires_grad_(True)
    trained.train()
    if config.gradient_checkpointing and hasattr(trained, "enable_gradient_checkpointing"):
        trained.enable_gradient_checkpointing()
    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    names = [control_name] if isinstance(control_name, str) else list(control_name or [])
    key = fingerprint(config, dataset, n_items, [trained, parts.unet, parts.vae, *[c for c, _, _ in frozen_controlnets]], names)
    start, metrics, resumed_from = 0, [], None
    done = checkpoints(output_dir)
    if done and json.loads((done[-1] / "state.json").read_text()).get("fingerprint") != key:
        if progress:
            print(f"{output_dir}: checkpoints from another setup (data, weights or settings changed): starting afresh")
        for old in done:
            shutil.rmtree(old, ignore_errors=True)
        done = []
    if resume and done:
        from safetensors.torch import load_file

        last = done[-1]
        state = json.loads((last / "state.json").read_text())
        fresh = type(trained).from_pretrained(str(last / "model"))
        trained.load_state_dict(fresh.state_dict())
        _load_optimizer(optimizer, load_file(str(last / "optimizer.safetensors")),
                        json.loads((last / "optimizer.json").read_text()))
        start, metrics, resumed_from = state["step"], state["metrics"], str(last)
    # validation images belong to the run being resumed; a run from step 0 starts a new series
    vdir = output_dir / "validation"
    for old in sorted(vdir.glob("step-*.png")) if vdir.exists() else []:
        if start == 0 or int(old.stem.split("-")[1]) > start:
            old.unlink()
    trained, optimizer = acc.prepare(trained, optimizer)
    device, wdtype = acc.device, torch.float32
    if acc.mixed_precision == "fp16":
        wdtype = torch.float16
    elif acc.mixed_precision == "bf16":
        wdtype = torch.bfloat16
    frozen = [parts.vae, parts.text_encoder] + ([parts.unet] if trained is not parts.unet else [])
    frozen += [c for c, _, _ in frozen_controlnets]
    for m in frozen:
        m.to(device) if wdtype == torch.float32 else m.to(device, dtype=wdtype)
    sched = parts.scheduler
    latent_scale = getattr(parts.vae.config, "scaling_factor", 0.18215)

    def step_loss(batch: Batch, gen: torch.Generator) -> torch.Tensor:
        px = batch.pixel_values.to(device, dtype=wdtype)
        with torch.no_grad():
            latents = parts.vae.encode(px).latent_dist.sample(generator=gen) * latent_scale
            from radgazegen.models import encode_prompt

            hidden = encode_prompt(parts, batch.prompts, device=device, where="training prompt").to(wdtype)
        noise = torch.randn(latents.shape, generator=gen, dtype=latents.dtype).to(device)
        t = torch.randint(0, sched.config.num_train_timesteps, (latents.shape[0],), generator=gen).to(device)
        noisy = sched.add_noise(latents, noise, t)
        down = mid = None
        for cn, name, scale in frozen_controlnets:  # frozen controls stay active (Rad-CN under HVA-CN)
            with torch.no_grad():
                d, m = cn(noisy, t, encoder_hidden_states=hidden, controlnet_cond=batch.conditioning[name].to(device, wdtype),
                          conditioning_scale=scale, return_dict=False)
            down = d if down is None else [a + b for a, b in zip(down, d)]
            mid = m if mid is None else mid + m
        with acc.autocast():
            if adapter is not None:
                cond = torch.cat([batch.conditioning[n] for n in names], dim=1).to(device)
                feats = trained(cond)
                pred = parts.unet(noisy.to(wdtype), t, encoder_hidden_states=hidden,
                                  down_intrablock_additional_residuals=[f.to(wdtype) for f in feats]).sample
            elif controlnet is None:
                pred = trained(noisy, t, encoder_hidden_states=hidden).sample
            else:
                cond = torch.cat([batch.conditioning[n] for n in names], dim=1).to(device)
                d, m = trained(noisy, t, encoder_hidden_states=hidden, controlnet_cond=cond, return_dict=False)
                down = d if down is None else [a + b for a, b in zip(down, d)]
                mid = m if mid is None else mid + m
                pred = parts.unet(noisy.to(wdtype), t, encoder_hidden_states=hidden,
                                  down_block_additional_residuals=[x.to(wdtype) for x in down],
                                  mid_block_additional_residual=mid.to(wdtype)).sample
        return F.mse_loss(pred.float(), noise.float())

    bar = tqdm(total=config.max_steps, initial=start, desc="training", disable=not progress or not acc.is_main_process)
    for step in range(start, config.max_steps):
        losses = []
        for micro in range(config.grad_accum):
            rng = np.random.default_rng([config.seed, step, micro])
            idx = rng.choice(n_items, size=config.batch_size, replace=n_items < config.batch_size)
            gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
            with acc.accumulate(trained):
                loss = step_loss(dataset(idx), gen)
                acc.backward(loss)
                if acc.sync_gradients and config.max_grad_norm > 0:
                    acc.clip_grad_norm_(trained.parameters(), config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            losses.append(float(loss.detach()))
        if (step + 1) % config.log_every == 0 or step + 1 == config.max_steps:
            metrics.append({"step": step + 1, "loss": float(np.mean(losses))})
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        if validate is not None and config.validate_every and acc.is_main_process and (
                (step + 1) % config.validate_every == 0 or step + 1 == config.max_steps):
            model = acc.unwrap_model(trained)
            model.eval()
            with torch.no_grad(), acc.autocast():
                images = validate(model, step + 1)
            model.train()
            import cv2

            ok, buf = cv2.imencode(".png", np.concatenate(list(images), axis=1))
            path = output_dir / "validation" / f"step-{step + 1:07d}.png"
            write_bytes(path, buf.tobytes())
        if acc.is_main_process and ((config.checkpoint_every and (step + 1) % config.checkpoint_every == 0)
                                    or step + 1 == config.max_steps):
            save_checkpoint(output_dir, acc.unwrap_model(trained), optimizer, step + 1, metrics, key)
            for old in checkpoints(output_dir)[:-config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
    bar.close()
    acc.wait_for_everyone()
    final = output_dir / "final"
    if acc.is_main_process:
        tmp = output_dir / ".tmp-final"
        shutil.rmtree(tmp, ignore_errors=True)
        acc.unwrap_model(trained).save_pretrained(str(tmp), safe_serialization=True)
        write_text(output_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))
        write_json(output_dir / "train_config.json", asdict(config))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    return {"steps": config.max_steps, "resumed_from": resumed_from, "final": final, "metrics": metrics,
            "validation": sorted(vdir.glob("step-*.png"))}


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
