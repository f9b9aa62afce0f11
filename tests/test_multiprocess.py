"""The multi-process path on a CPU: ``accelerate launch`` with 2 processes (gloo) against one process.

``tests/launched_training.py`` trains a tiny Rad-CN-like ControlNet with the study's loop
(global micro-batch 4, 3 steps, a checkpoint every step, validation images) and samples 3
prompts with it, once under ``accelerate launch`` with 2 CPU processes and once in this
process. On a machine without GPUs accelerate starts several CPU processes only through
torchrun, i.e. ``--multi_gpu`` with ``ACCELERATE_USE_CPU=1`` (``--cpu --num_processes 2`` alone
starts one process, unless MPI launches them).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import radgazegen
from radgazegen.models import clip_tokenizer_files

pytestmark = pytest.mark.slow  # launches training processes (left out of `make check`)

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = Path(radgazegen.__file__).resolve().parents[1]  # the checkout whose radgazegen this test imports


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tok: Path, out: Path, logs: Path) -> None:
    """``launched_training.py TOKENIZER OUT LOGS`` under ``accelerate launch``, 2 CPU processes (gloo)."""
    logs.mkdir()
    env = dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), str(HERE / "launched_training.py"), str(tok), str(out), str(logs)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, f"accelerate launch failed:\n{proc.stderr[-4000:]}"


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """The 2-process run's folder: ``out/`` (what the run wrote) and ``logs/`` (per process)."""
    root = tmp_path_factory.mktemp("launch")
    clip_tokenizer_files(root / "tok")  # written once here, only read by the processes
    _launch(root / "tok", root / "out", root / "logs")
    return root


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_two_processes_train_the_model_one_process_trains_and_only_the_main_one_writes(launched, tmp_path):
    """Two processes, each on its 2 rows of the global micro-batch of 4, against one process on
    all 4 (same seed, same items, same noise per item).

    Tolerance: DDP averages two half-batch gradients where one process sums four, so the
    gradients differ in their last bits (~1e-7 relative). AdamW divides each gradient by its
    own running RMS: for the few weights whose gradient is itself rounding noise that last-bit
    difference becomes an update of up to lr (measured: 194 of 423,344 weights differ by more
    than 1e-5, none by more than 6e-4 < lr = 1e-3). Asserted: the difference is under 1% of
    the run's update ``||w_2 - w_1|| < 0.01 ||w_1 - w_0||`` (measured 0.1%), under 0.1% of the
    weights differ by more than 1e-5, and the logged losses agree to 1e-6 relative.
    """
    from diffusers import ControlNetModel
    from safetensors.torch import load_file

    from launched_training import CONFIG, tiny_rad_cn
    from radgazegen.models import new_controlnet, sd_parts

    logs, out = launched / "logs", launched / "out"
    results = [json.loads((logs / f"result-{r}.json").read_text()) for r in (0, 1)]
    assert [(r["processes"], r["backend"]) for r in results] == [(2, "gloo")] * 2
    two = [load_file(str(logs / f"weights-{r}.safetensors")) for r in (0, 1)]
    assert all(torch.equal(two[0][k], two[1][k]) for k in two[0])  # DDP kept the processes' models equal
    final = ControlNetModel.from_pretrained(str(out / "final")).state_dict()
    assert all(torch.equal(final[k], two[0][k]) for k in final)

    one, one_result, _ = tiny_rad_cn(launched / "tok", tmp_path / "one")
    w1 = one.state_dict()
    torch.manual_seed(0)
    w0 = new_controlnet(sd_parts("tiny", launched / "tok", resolution=32)).state_dict()
    norm = lambda d: float(sum(v.double().pow(2).sum() for v in d.values())) ** 0.5  # noqa: E731
    diff, update = norm({k: w1[k] - two[0][k] for k in w1}), norm({k: w1[k] - w0[k] for k in w1})
    off = sum(int(((w1[k] - two[0][k]).abs() > 1e-5).sum()) for k in w1) / sum(v.numel() for v in w1.values())
    assert update > 0.1 and diff < 0.01 * update and off < 1e-3, (diff, update, off)
    for a, b in zip(one_result["metrics"], results[0]["metrics"]):
        assert a["step"] == b["step"] and a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    assert results[0]["metrics"] == results[1]["metrics"]  # the loss logged is the mean over the processes
    # each process trained on its half of each global micro-batch, not on all of it
    assert [a + b for a, b in zip(results[0]["items"], results[1]["items"])] == one_result["items"]
    assert [len(i) for r in results for i in r["items"]] == [2] * 2 * CONFIG["max_steps"]

    # what the run left is what one process leaves, written by the main process alone, each file once
    assert _files(out) == _files(tmp_path / "one")
    assert not [ln for ln in _files(out) if ".tmp" in ln]
    writes = [json.loads((logs / f"writes-{r}.json").read_text()) for r in (0, 1)]
    assert writes[1] == [], f"process 1 wrote under the run folder: {writes[1][:5]}"
    renamed = Counter(e[2] for e in writes[0] if e[0] == "rename")
    steps = range(1, CONFIG["max_steps"] + 1)
    made = [f"checkpoint-{s:07d}" for s in steps] + ["final", "metrics.jsonl", "train_config.json"]
    made += [f"validation/step-{s:07d}.png" for s in (2, 3)]
    assert all(renamed[m] == 1 for m in made), {m: renamed[m] for m in made}


def test_two_processes_resume_where_they_stopped_and_only_the_main_one_sets_aside(launched, tmp_path):
    """The 2-process run "killed" after step 2 (its step-3 checkpoint cut short, no final model),
    launched again: the main process sets the broken checkpoint aside (once; the other process
    only reads, after it: ``main_process_first``), both resume from step 2 and end with the
    unbroken 2-process run's weights, exactly."""
    import shutil

    from safetensors.torch import load_file

    out = tmp_path / "out"
    shutil.copytree(launched / "out", out)
    shutil.rmtree(out / "final")
    (out / "checkpoint-0000003" / "state.json").write_text("{")
    _launch(launched / "tok", out, tmp_path / "logs")
    results = [json.loads((tmp_path / "logs" / f"result-{r}.json").read_text()) for r in (0, 1)]
    assert all(r["resumed_from"].endswith("checkpoint-0000002") for r in results)
    assert [m["step"] for m in results[0]["metrics"]] == [1, 2, 3] and len(results[0]["items"]) == 1  # step 3 only
    writes = [json.loads((tmp_path / "logs" / f"writes-{r}.json").read_text()) for r in (0, 1)]
    assert writes[1] == [] and [e for e in writes[0] if e[0] == "rename" and e[2].startswith("broken-")] == [
        ["rename", "checkpoint-0000003", "broken-checkpoint-0000003"]]
    unbroken, resumed = load_file(str(launched / "logs" / "weights-0.safetensors")), load_file(
        str(tmp_path / "logs" / "weights-0.safetensors"))
    assert all(torch.equal(unbroken[k], resumed[k]) for k in unbroken)


def test_generation_shared_out_over_two_processes_gives_one_process_images(launched):
    """``generate_across_processes``: process 0 sampled prompts 0-1, process 1 prompt 2
    (``split_between_processes``), and ``gather_object`` gave both processes all three, equal to
    one process's ``generate`` with the same (trained) model, seeds and controls. Tolerance: one
    grey level (the float images may differ in their last bits between batch sizes and thread
    counts before rounding to uint8); measured: identical."""
    from diffusers import ControlNetModel

    from launched_training import PROMPTS, SEEDS, data
    from radgazegen.generation import generate, parts_pipeline
    from radgazegen.models import sd_parts

    shared = [np.load(launched / "logs" / f"images-{r}.npy") for r in (0, 1)]
    assert shared[0].shape == (3, 32, 32) and np.array_equal(shared[0], shared[1])
    torch.manual_seed(0)
    parts = sd_parts("tiny", launched / "tok", resolution=32)
    pipe = parts_pipeline(parts, [ControlNetModel.from_pretrained(str(launched / "out" / "final"))])
    _, controls = data()
    one = generate(pipe, PROMPTS, [controls[:3]], seeds=SEEDS, steps=2, resolution=32)
    assert np.abs(one.astype(int) - shared[0]).max() <= 1


def test_the_runner_refuses_a_multi_process_launch_in_one_line(monkeypatch, capsys):
    """Under ``accelerate launch`` every process would be a runner: the run lock refuses all but
    one, whose kernel would wait for the others; the runner says so and stops instead."""
    from radgazegen import __main__ as cli
    from radgazegen.study.runner import Study

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(Study, "run", lambda *a, **k: pytest.fail("the runner ran"))
    assert cli.main(["run", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "one process per run directory, not 2" in err[0]


def _tiny_sd_and_items(tmp_path: Path, seed: int):
    """A tiny SD-CXR saved in ``tmp_path/sd`` and 6 training items on disk (noise images, sparse
    Canny-like controls drawn with ``seed``), as a chapter's ``ControlDataset`` at 32 px."""
    import cv2

    from radgazegen.models import save_sd_parts, sd_parts
    from radgazegen.models.training_data import ControlDataset, Item

    clip_tokenizer_files(tmp_path / "tok")
    torch.manual_seed(0)
    sd_dir = save_sd_parts(sd_parts("tiny", tmp_path / "tok", resolution=32), tmp_path / "sd")
    rng = np.random.default_rng(seed)
    items = []
    for i in range(6):
        image, control = tmp_path / f"img{i}.png", tmp_path / f"canny{i}.png"
        cv2.imwrite(str(image), rng.integers(0, 256, (48, 48), dtype=np.uint8))
        cv2.imwrite(str(control), (rng.random((48, 48)) > 0.8).astype(np.uint8) * 255)
        items.append(Item(f"d{i}", image, f"finding {i}", {"canny": control}))
    dataset = ControlDataset(items, 32, controls=["canny"])
    return sd_dir, dataset


def test_a_chapter_trains_on_two_processes_with_train_processes(tmp_path, monkeypatch):
    """``train_processes = 2`` in chapters 05/06: ``launch.train_control`` (a job file, ``accelerate
    launch -m radgazegen.models.launch``) trains the model ``training.train_control`` trains in this
    process, from the same SD-CXR folder, items on disk and config (tolerance as above)."""
    from diffusers import ControlNetModel

    from radgazegen.models import launch, sd_parts
    from radgazegen.models.training import TrainConfig, train_control

    sd_dir, dataset = _tiny_sd_and_items(tmp_path, seed=0)
    config = TrainConfig(max_steps=3, batch_size=4, checkpoint_every=2, lr=1e-3, seed=0)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]))
    two = launch.train_control(sd_dir, dataset, config, tmp_path / "two", "canny", num_processes=2)
    one = train_control(sd_dir, dataset, config, tmp_path / "one", "canny", progress=False)
    assert two["steps"] == one["steps"] == 3 and two["num_processes"] == 2 and two["validation"] == []
    w2 = ControlNetModel.from_pretrained(str(two["final"])).state_dict()
    w1 = ControlNetModel.from_pretrained(str(one["final"])).state_dict()
    torch.manual_seed(0)
    from radgazegen.models import new_controlnet

    w0 = new_controlnet(sd_parts(str(sd_dir)), 3).state_dict()
    norm = lambda d: float(sum(v.double().pow(2).sum() for v in d.values())) ** 0.5  # noqa: E731
    diff, update = norm({k: w1[k] - w2[k] for k in w1}), norm({k: w1[k] - w0[k] for k in w1})
    assert update > 0.1 and diff < 0.01 * update, (diff, update)
    for a, b in zip(one["metrics"], two["metrics"]):
        assert a["step"] == b["step"] and a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    assert (tmp_path / "two" / launch.LOG).exists()


def test_a_failed_launch_names_its_log(tmp_path, monkeypatch):
    from radgazegen.models import launch
    from radgazegen.models.training import TrainConfig
    from radgazegen.models.training_data import ControlDataset

    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    with pytest.raises(RuntimeError, match=r"failed .*launch\.log"):
        launch.train_control(tmp_path / "no-sd-here", ControlDataset([], 32), TrainConfig(max_steps=1), tmp_path / "out",
                             "canny", num_processes=2)
    with pytest.raises(ValueError, match="num_processes"):
        launch.train_control(tmp_path, ControlDataset([], 32), TrainConfig(), tmp_path / "out", "canny", num_processes=1)


def test_models_trained_concurrently_are_the_models_trained_one_after_the_other(tmp_path, monkeypatch):
    """``concurrent_models = 3`` in chapters 05/06 (``launch.train_all``): the first model trains in
    this process while the others train each in a process of its own; each ends with exactly
    the weights of training it alone (its batches and noise come from its own seeds)."""
    from diffusers import ControlNetModel, T2IAdapter

    from radgazegen.models import launch
    from radgazegen.models.training import TrainConfig, train_control

    sd_dir, dataset = _tiny_sd_and_items(tmp_path, seed=1)
    plan = [{"name": "cn-a", "kind": "controlnet", "seed": 0}, {"name": "cn-b", "kind": "controlnet", "seed": 1},
            {"name": "adapter", "kind": "adapter", "seed": 0}]
    cfg = lambda m: TrainConfig(max_steps=3, batch_size=2, checkpoint_every=0, lr=1e-3, seed=m["seed"])  # noqa: E731
    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))  # the processes compute as this one does
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]))

    def runs(folder: Path, workers: int) -> list[dict]:
        here = lambda m: train_control(sd_dir, dataset, cfg(m), folder / m["name"], "canny", kind=m["kind"], progress=False)  # noqa: E731
        job = lambda m: launch.write_job(sd_dir, dataset, cfg(m), folder / m["name"], "canny", m["kind"])  # noqa: E731
        return launch.train_all(plan, here, job, workers)

    together, alone = runs(tmp_path / "together", 3), runs(tmp_path / "alone", 1)
    assert [(tmp_path / "together" / m["name"] / launch.LOG).exists() for m in plan] == [False, True, True]
    for m, a, b in zip(plan, together, alone):
        load = (ControlNetModel if m["kind"] == "controlnet" else T2IAdapter).from_pretrained
        wa, wb = load(str(a["final"])).state_dict(), load(str(b["final"])).state_dict()
        assert all(torch.equal(wa[k], wb[k]) for k in wa), m["name"]
        assert a["metrics"] == b["metrics"] and a["steps"] == 3
    with pytest.raises(ValueError, match="workers"):
        launch.train_concurrently(lambda: None, [], 1)
