"""Training a ControlNet on several processes (GPUs) from a chapter: ``train_processes`` > 1.

Several models at once (``concurrent_models`` > 1, chapters 05 and 06): ``train_all`` trains the
chapter's first model in its kernel while the others train each in a process of its own
(``write_job``, ``train_in_process``: the same ``main`` on one process), a few at a time: small
models leave a large GPU mostly idle (teach on an H200).

A chapter's kernel is one process; the paper trained on several GPUs. With the parameter
``train_processes = N > 1`` chapters 05 (Rad-CN) and 06 (HVA-CN) hand each model's training to
``train_control``, the same call as ``training.train_control`` plus ``num_processes``: it writes
the job (SD-CXR's folder, the dataset's items, resolution and controls, the ``TrainConfig``,
the frozen ControlNets) to ``<output_dir>/launch-job.json``, runs ::

    python -m accelerate.commands.launch --multi_gpu --num_processes N --mixed_precision P \\
        [launcher_args] -m radgazegen.models.launch <output_dir>/launch-job.json

with its console output in ``<output_dir>/launch.log``, and returns what the main process
wrote to ``<output_dir>/launch-result.json`` once the final model was saved. Each process
rebuilds the same dataset from the job and calls ``training.train_control``: accelerate gives
each process its share of every global batch, only the main process writes checkpoints and
the final model (``training.train``'s contract, tested on 2 CPU processes in
``tests/test_multiprocess.py``), and a stopped launch resumes from the last checkpoint.
Differences from training in the kernel: no validation images while training (``validate`` is
ignored; the chapter's figures sample the final model), and on a machine without GPUs the
processes are CPU processes (gloo) only with ``ACCELERATE_USE_CPU=1`` in the environment.
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

JOB, RESULT, LOG = "launch-job.json", "launch-result.json", "launch.log"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_job(sd_dir: str | Path, dataset, config, output_dir: str | Path, control_name: str | Sequence[str],
              kind: str = "controlnet", conditioning_channels: int = 3,
              frozen_controlnets: Sequence[tuple[str | Path, str, float]] = ()) -> Path:
    """``<output_dir>/launch-job.json``: what ``main`` needs to rebuild the dataset and train (the
    arguments of ``training.train_control``); returns ``output_dir``. A previous result is removed."""
    from radgazegen.core.io import write_json

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    job = {"sd_dir": str(sd_dir), "output_dir": str(out), "kind": kind, "conditioning_channels": conditioning_channels,
           "control_name": control_name if isinstance(control_name, str) else list(control_name),
           "frozen_controlnets": [[str(d), c, float(s)] for d, c, s in frozen_controlnets],
           "config": dataclasses.asdict(config), "resolution": dataset.resolution, "controls": list(dataset.controls),
           "in_memory": dataset.in_memory,
           "items": [{"dicom_id": it.dicom_id, "image_path": str(it.image_path), "prompt": it.prompt,
                      "controls": {k: str(v) for k, v in it.controls.items()}} for it in dataset.items]}
    write_json(out / JOB, job)
    (out / RESULT).unlink(missing_ok=True)
    return out


def _result(out: Path, what: str, code: int) -> dict:
    if code != 0 or not (out / RESULT).exists():
        raise RuntimeError(f"{what} failed (exit code {code}); see {out / LOG}")
    result = json.loads((out / RESULT).read_text(encoding="utf-8"))
    return dict(result, final=Path(result["final"]), validation=[])


def train_control(sd_dir: str | Path, dataset, config, output_dir: str | Path, control_name: str | Sequence[str],
                  kind: str = "controlnet", conditioning_channels: int = 3,
                  frozen_controlnets: Sequence[tuple[str | Path, str, float]] = (), progress: bool = True,
                  validate=None, num_processes: int = 2, launcher_args: Sequence[str] = ()) -> dict:
    """``training.train_control`` on ``num_processes`` processes of ``accelerate launch``.

    dataset: a ``training_data.ControlDataset`` (its items, resolution, controls and
    ``in_memory`` travel in the job file); config: ``training.TrainConfig`` (its batch_size is
    the global batch over all processes). Returns ``{"steps", "resumed_from", "final", "metrics",
    "validation": [], "benchmark"}``; a failed launch is a ``RuntimeError`` naming its log.
    """
    if not isinstance(num_processes, int) or num_processes < 2:
        raise ValueError(f"num_processes: expected an integer >= 2 (1 trains in this process), got {num_processes!r}")
    out = write_job(sd_dir, dataset, config, output_dir, control_name, kind, conditioning_channels, frozen_controlnets)
    (out / RESULT).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
           "--num_machines", "1", "--mixed_precision", config.mixed_precision, "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), *launcher_args, "-m", "radgazegen.models.launch", str(out / JOB)]
    with open(out / LOG, "a", encoding="utf-8") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1")).returncode
    return _result(out, f"accelerate launch of {num_processes} processes", code)


def train_in_process(output_dir: str | Path) -> dict:
    """Train the job written in ``output_dir`` (``write_job``) in one new process
    (``python -m radgazegen.models.launch``, console output in its ``launch.log``) and return its
    result as ``train_control`` does; for ``train_concurrently``."""
    out = Path(output_dir)
    with open(out / LOG, "a", encoding="utf-8") as log:
        code = subprocess.run([sys.executable, "-m", "radgazegen.models.launch", str(out / JOB)], stdout=log,
                              stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1")).returncode
    return _result(out, "training process", code)


def train_all(plan: Sequence[dict], train_here: Callable[[dict], dict], job_of: Callable[[dict], Path],
              workers: int = 1) -> list[dict]:
    """Train every model of ``plan`` (one dict per model, the chapter's); results in plan order.
    workers 1: one after the other in this process (``train_here(model)``); more: the first in this
    process (with its validation images) while the others train in separate processes
    (``job_of(model)`` writes each one's job: ``write_job``), ``workers - 1`` at a time
    (``train_concurrently``)."""
    if workers == 1 or len(plan) < 2:
        return [train_here(m) for m in plan]
    first, others = train_concurrently(lambda: train_here(plan[0]), [job_of(m) for m in plan[1:]], workers)
    return [first, *others]


def train_concurrently(first, others: Sequence[Path], workers: int) -> tuple[dict, list[dict]]:
    """Several models at once on one machine (teach: small models leave an H200 mostly idle, so one
    model's step costs about what four concurrent ones cost). ``first()`` trains in this process
    (with its validation images) while the jobs in ``others`` (folders written by ``write_job``)
    train in separate processes (``train_in_process``), ``workers - 1`` at a time. Each model's
    weights are those of training it alone (its batches and noise come from its own seeds). Returns
    (first's result, the others' results in order); a failed process raises after all finished."""
    from concurrent.futures import ThreadPoolExecutor

    if not isinstance(workers, int) or workers < 2:
        raise ValueError(f"workers: expected an integer >= 2, got {workers!r}")
    with ThreadPoolExecutor(max_workers=workers - 1) as pool:
        futures = [pool.submit(train_in_process, o) for o in others]
        result = first()
        return result, [f.result() for f in futures]


def main(argv: list[str] | None = None) -> int:
    """One process of a launch: rebuild the job's dataset and train; the main process writes the result."""
    import radgazegen  # noqa: F401  (torchvision shim)
    from radgazegen.core.io import write_json
    from radgazegen.models.training import TrainConfig, train_control as train_here
    from radgazegen.models.training_data import ControlDataset, Item

    (job_path,) = argv if argv is not None else sys.argv[1:]
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    items = [Item(it["dicom_id"], Path(it["image_path"]), it["prompt"], {k: Path(v) for k, v in it["controls"].items()})
             for it in job["items"]]
    dataset = ControlDataset(items, job["resolution"], controls=job["controls"], in_memory=job["in_memory"])
    result = train_here(job["sd_dir"], dataset, TrainConfig(**job["config"]), job["output_dir"], job["control_name"],
                        kind=job["kind"], conditioning_channels=job["conditioning_channels"],
                        frozen_controlnets=[tuple(f) for f in job["frozen_controlnets"]],
                        progress=os.environ.get("RANK", "0") == "0")
    if os.environ.get("RANK", "0") == "0":
        write_json(Path(job["output_dir"]) / RESULT, {
            "steps": result["steps"], "resumed_from": str(result["resumed_from"] or "") or None, "final": str(result["final"]),
            "metrics": result["metrics"], "benchmark": result["benchmark"], "num_processes": int(os.environ.get("WORLD_SIZE", "1"))})
    return 0


if __name__ == "__main__":
    sys.exit(main())
