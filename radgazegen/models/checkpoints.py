"""Checkpoints of ``training.train``: the run's fingerprint, saving and resuming.

``output_dir/checkpoint-<step>/`` holds the trained model (``save_pretrained``, safetensors),
the optimiser state (``optimizer.safetensors`` + ``optimizer.json``), with fp16 the loss
scaler's state (``scaler.json``: ``GradScaler.state_dict()``, the scale and its growth
tracker, which accelerate's ``save_state`` pickles as ``scaler.pt``) and ``state.json`` (step,
metrics so far, fingerprint). Nothing is unpickled. A checkpoint is resumed only by a run with
the same fingerprint (config, data, controls, initial weights).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch

from radgazegen.core.io import write_json


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


def save_checkpoint(folder: Path, model, optimizer, step: int, metrics: list[dict], key: str = "",
                    scaler=None) -> Path:
    """``folder/checkpoint-<step>/``: the trained model (``save_pretrained``, safetensors), the
    optimiser state (safetensors + JSON), the loss scaler's state (``scaler.json``; ``scaler``: the
    accelerator's ``torch.amp.GradScaler`` under fp16, else None) and ``state.json``. Written to a
    temp folder, then renamed."""
    from safetensors.torch import save_file

    final = folder / f"checkpoint-{step:07d}"
    tmp = folder / f".tmp-checkpoint-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp / "model"), safe_serialization=True)
    tensors, meta = _optimizer_tensors(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    write_json(tmp / "optimizer.json", meta)
    if scaler is not None:  # {"scale": float, "_growth_tracker": int, growth/backoff settings}: JSON as is
        write_json(tmp / "scaler.json", scaler.state_dict())
    write_json(tmp / "state.json", {"step": step, "metrics": metrics, "fingerprint": key})
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def fingerprint(config, dataset, n_items: int, modules: Sequence[torch.nn.Module],
                names: Sequence[str]) -> str:
    """Hash of what a training run starts from: config (a ``training.TrainConfig``), items,
    controls and initial weights.

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


def _fingerprint_of(checkpoint: Path) -> str | None:
    """The fingerprint a checkpoint's ``state.json`` records (None when it cannot be read)."""
    try:
        return json.loads((checkpoint / "state.json").read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def _read_checkpoint(checkpoint: Path, model_class) -> tuple[dict, dict, dict, dict, dict | None]:
    """(state.json, model weights, optimiser tensors, optimiser meta, loss scaler state or None
    when the checkpoint has none) of ``checkpoint``, all read before anything is applied; raises
    (OSError, ValueError, ...) when a file is missing or bad."""
    from safetensors.torch import load_file

    state = json.loads((checkpoint / "state.json").read_text())
    weights = model_class.from_pretrained(str(checkpoint / "model")).state_dict()
    scaler_file = checkpoint / "scaler.json"
    return (state, weights, load_file(str(checkpoint / "optimizer.safetensors")),
            json.loads((checkpoint / "optimizer.json").read_text()),
            json.loads(scaler_file.read_text()) if scaler_file.exists() else None)


def set_aside(checkpoint: Path, reason: str) -> Path:
    """Rename a checkpoint that does not load to ``broken-<name>`` (kept for inspection, never
    resumed) and say so in one warning line naming it and why."""
    broken = checkpoint.with_name(f"broken-{checkpoint.name}")
    shutil.rmtree(broken, ignore_errors=True)
    checkpoint.rename(broken)
    print(f"warning: {checkpoint} does not load ({reason}); set aside as {broken.name}, "
          "resuming from an older checkpoint or from scratch", flush=True)
    return broken


def resume_run(output_dir: Path, key: str, trained, optimizer, resume: bool, progress: bool, scaler=None,
               main_process: bool = True) -> tuple[int, list[dict], str | None]:
    """(start step, metrics so far, checkpoint resumed from): the newest checkpoint of a run with
    fingerprint ``key`` that loads is loaded into ``trained``, ``optimizer`` and ``scaler`` (the
    fp16 loss scaler, or None); one that does not load (truncated, empty, a file missing) is set
    aside with a warning and the next older one is tried; another run's checkpoints are deleted.

    main_process: False in the processes of ``accelerate launch`` other than the main one: they
    only read, and say nothing (the main process sets aside and deletes, first: the caller runs
    it under ``accelerator.main_process_first()``)."""
    done = checkpoints(output_dir)
    readable = [c for c in done if _fingerprint_of(c) is not None]
    if readable and _fingerprint_of(readable[-1]) != key:
        if progress:
            print(f"{output_dir}: checkpoints from another setup (data, weights or settings changed): starting afresh")
        for old in done if main_process else []:
            shutil.rmtree(old, ignore_errors=True)
        done = []
    if not (resume and done):
        return 0, [], None
    for last in reversed(done):
        try:
            if _fingerprint_of(last) != key:
                raise ValueError("state.json unreadable or from another setup")
            state, weights, tensors, meta, scaler_state = _read_checkpoint(last, type(trained))
        except Exception as exc:  # noqa: BLE001 - any failure to read means: not this checkpoint
            if main_process:
                set_aside(last, f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
            continue
        trained.load_state_dict(weights)
        _load_optimizer(optimizer, tensors, meta)
        if scaler is not None and scaler_state is not None:
            scaler.load_state_dict(scaler_state)
        elif scaler is not None and main_process:
            print(f"warning: {last} has no loss-scaler state (scaler.json; written before it was saved): the fp16 "
                  "loss scale restarts from its initial value, so the run is not the one an unbroken run gives", flush=True)
        return state["step"], state["metrics"], str(last)
    return 0, [], None
