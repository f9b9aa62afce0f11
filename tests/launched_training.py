"""A tiny Rad-CN trained with the study's loop, then sampled, in one process or under ``accelerate launch``.

``tests/test_multiprocess.py`` runs ``tiny_rad_cn`` in its own process (the reference) and this
file as a script under ``accelerate launch`` with 2 CPU processes::

    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 tests/launched_training.py TOKENIZER OUT LOGS

Every process writes, outside ``OUT``, into ``LOGS``: the files it created, renamed or deleted
under ``OUT`` (``writes-<rank>.json``, from Python's audit hooks), its trained ControlNet's
weights (``weights-<rank>.safetensors``), the loss log, the items it trained on, the checkpoint
it resumed from (``result-<rank>.json``) and its gathered images (``images-<rank>.npy``).
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

#: The run: global micro-batch 4 (2 per process under 2 processes), 3 optimiser steps, a
#: checkpoint every step (the 2 newest kept), validation images at steps 2 and 3.
CONFIG = dict(max_steps=3, batch_size=4, checkpoint_every=1, keep_checkpoints=2, validate_every=2, lr=1e-3, seed=0)
PROMPTS, SEEDS = ["effusion", "edema", "no finding"], [7, 8, 9]


def data(seen: list | None = None):
    """(dataset, controls): dataset(indices) -> Batch over 6 random 32x32 images with a 3-channel
    "canny" control ``(6, 3, 32, 32)``; the indices asked for are appended to ``seen``."""
    from radgazegen.models.training import Batch

    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.uniform(-1, 1, (6, 3, 32, 32)).astype(np.float32))
    controls = torch.from_numpy(rng.uniform(0, 1, (6, 3, 32, 32)).astype(np.float32))

    def dataset(idx):
        seen is not None and seen.append([int(i) for i in idx])
        return Batch(images[idx], [f"finding {i}" for i in idx], {"canny": controls[idx]})

    return dataset, controls


def tiny_rad_cn(tok_dir: str | Path, out_dir: str | Path):
    """Train the tiny ControlNet on "canny" (``CONFIG``), then generate ``PROMPTS`` with it (2 UniPC
    steps, 32x32) shared out over the processes. Returns (ControlNet, train's result with "items":
    the item indices of each micro-batch this process trained on, images)."""
    from radgazegen.generation import generate_across_processes, parts_pipeline
    from radgazegen.models import new_controlnet, sd_parts
    from radgazegen.models.training import TrainConfig, train

    torch.manual_seed(0)
    parts = sd_parts("tiny", tok_dir, resolution=32)
    cn = new_controlnet(parts)
    seen: list = []
    dataset, controls = data(seen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(parts, dataset, 6, TrainConfig(**CONFIG), out_dir, controlnet=cn, control_name="canny",
                       progress=False, validate=lambda model, step: np.full((1, 8, 8), 10 * step, np.uint8))
        pipe = parts_pipeline(parts, [cn])
        images = generate_across_processes(pipe, PROMPTS, [controls[:3]], seeds=SEEDS, steps=2, resolution=32)
    return cn, dict(result, items=seen), images


def record_writes(root: Path, events: list) -> None:
    """Append to ``events`` each file or folder this process creates, opens for writing, renames,
    deletes or removes under ``root`` (Python's audit hooks; files written by native code, such
    as safetensors', are seen through the folders made for them and their renames)."""
    root = os.path.abspath(root)
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def under(path) -> str | None:
        if isinstance(path, int):
            return None
        path = os.path.abspath(os.fsdecode(path))
        return os.path.relpath(path, root) if path == root or path.startswith(root + os.sep) else None

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if (mode and any(c in mode for c in "wax+")) or (not mode and flags & writes):
                rel = under(path)
                rel and events.append(["write", rel])
        elif event == "os.rename":
            src, dst = under(args[0]), under(args[1])
            (src or dst) and events.append(["rename", src, dst])
        elif event in ("os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree"):
            rel = under(args[0])
            rel and events.append([event, rel])

    sys.addaudithook(hook)


def main(tok_dir: str, out_dir: str, log_dir: str) -> None:
    from accelerate import PartialState
    from safetensors.torch import save_file

    events: list = []
    record_writes(Path(out_dir), events)
    cn, result, images = tiny_rad_cn(tok_dir, out_dir)
    rank = PartialState().process_index
    logs = Path(log_dir)
    save_file({k: v.contiguous() for k, v in cn.state_dict().items()}, str(logs / f"weights-{rank}.safetensors"))
    np.save(logs / f"images-{rank}.npy", images)
    (logs / f"result-{rank}.json").write_text(json.dumps({
        "processes": PartialState().num_processes, "backend": PartialState().backend,
        "metrics": result["metrics"], "items": result["items"], "resumed_from": result["resumed_from"],
        "threads": torch.get_num_threads()}))
    (logs / f"writes-{rank}.json").write_text(json.dumps(events))


if __name__ == "__main__":
    main(*sys.argv[1:4])
