"""What the training chapters (04, 05, 06) and the generation chapter (07) call instead of
computing in their cells: the plan of models from the parameters, its training entry, the
registries, the validation images, the held-out generation loop and the chapters' figures.
No model is trained or loaded: the trainers, samplers and pipelines here are stand-ins that
record what they were asked."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import cv2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from radgazegen.core.progress import LOG_VARIABLE  # noqa: E402
from radgazegen.figures import generation_figures, training_figures  # noqa: E402
from radgazegen.generation import evaluation_set, validation  # noqa: E402
from radgazegen.models import launch, plan, training  # noqa: E402
from radgazegen.models.objective import Batch  # noqa: E402
from radgazegen.models.training_data import Item, to_uint8  # noqa: E402

RADIOMICS = ["canny", "sobel", "gl", "segmentation"]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _batch(n: int = 3, size: int = 8, controls=("canny", "hva")) -> Batch:
    g = torch.Generator().manual_seed(0)
    return Batch(pixel_values=torch.rand(n, 3, size, size, generator=g) * 2 - 1, prompts=[f"report {i}" for i in range(n)],
                 conditioning={c: torch.rand(n, 3, size, size, generator=g) for c in controls})


# ---------------------------------------------------------------- models.plan: what a chapter trains

def test_steps_of_epochs_is_the_ceiling_of_items_over_the_effective_batch():
    assert plan.steps_of_epochs(10, 89, 4, 1) == 223  # 890 / 4 = 222.5
    assert plan.steps_of_epochs(2, 8, 4, 2) == 2  # exact: 16 / 8
    assert plan.steps_of_epochs(1, 9, 4, 2) == 2  # 9 / 8 = 1.125


def test_check_rad_cn_refuses_what_chapter_05_cannot_train():
    plan.check_rad_cn("per-map", ["canny", "gl"])
    plan.check_rad_cn("unified", list(reversed(RADIOMICS)))
    with pytest.raises(ValueError, match="design"):
        plan.check_rad_cn("stacked", RADIOMICS)
    with pytest.raises(ValueError, match="unknown"):
        plan.check_rad_cn("per-map", ["canny", "hva"])
    with pytest.raises(ValueError, match="all four"):
        plan.check_rad_cn("unified", ["canny", "sobel"])


def test_rad_cn_plan_per_map_then_adapters_and_unified_then_both_baselines():
    per_map = plan.rad_cn_plan("per-map", ["canny", "gl"], True, "data", "cfg")
    assert [m["name"] for m in per_map] == ["controlnet-canny", "controlnet-gl", "t2i-adapter-canny", "t2i-adapter-gl"]
    assert [m["kind"] for m in per_map] == ["controlnet", "controlnet", "adapter", "adapter"]
    assert [m["validated"] for m in per_map] == [True, True, False, False]
    assert {m["channels"] for m in per_map} == {3} and all(m["frozen"] == () and m["data"] == "data" for m in per_map)
    unified = plan.rad_cn_plan("unified", RADIOMICS, True, "data", "cfg")
    assert unified[0] == {**unified[0], "name": "rad-cn", "control": "unified", "channels": 4, "validated": True}
    assert [m["name"] for m in unified[1:3]] == ["controlnet-canny", "t2i-adapter-canny"] and len(unified) == 9
    assert [m["name"] for m in plan.rad_cn_plan("per-map", ["sobel"], False, "d", "c")] == ["controlnet-sobel"]


def test_hva_cn_plan_orders_the_models_and_gives_eq5_and_the_oracle_their_lengths():
    config = training.TrainConfig(max_steps=8, validate_every=4)
    frozen = [("rad/canny", "canny", 0.5)]
    models = plan.hva_cn_plan("data", config, frozen, train_baselines=True, eq5=("eq5", "mask-data"), eq5_steps=12,
                              oracle=("oracle", "box-data"))
    assert [m["name"] for m in models] == ["hva-cn", "controlnet-hva", "t2i-adapter-hva", "eq5", "oracle"]
    assert [m["validated"] for m in models] == [True, False, False, False, False]
    assert models[0]["frozen"] == frozen and all(m["frozen"] == () for m in models[1:])
    assert {m["control"] for m in models} == {"hva"} and models[2]["kind"] == "adapter"
    assert models[0]["cfg"] is config and [m["data"] for m in models[3:]] == ["mask-data", "box-data"]
    assert (models[3]["cfg"].max_steps, models[3]["cfg"].validate_every) == (12, 0)
    assert (models[4]["cfg"].max_steps, models[4]["cfg"].validate_every) == (12, 0)  # the oracle: as Eq. 5's
    alone = plan.hva_cn_plan("data", config, frozen, train_baselines=False, eq5=("eq5", "m"), oracle=("oracle", "b"),
                             oracle_steps=3)
    assert [m["name"] for m in alone] == ["hva-cn", "eq5", "oracle"]
    assert [m["cfg"].max_steps for m in alone] == [8, 8, 3]
    assert [m["name"] for m in plan.hva_cn_plan("d", config, frozen, train_baselines=False)] == ["hva-cn"]


def test_trainer_trains_here_or_by_accelerate_launch_and_not_both_at_once():
    assert plan.trainer(1, 4) is training.train_control
    launched = plan.trainer(2, 1)
    assert isinstance(launched, functools.partial) and launched.func is launch.train_control
    assert launched.keywords == {"num_processes": 2}
    with pytest.raises(ValueError, match="not both"):
        plan.trainer(2, 2)


def test_train_plan_passes_each_model_its_data_folder_channels_frozen_and_validation(tmp_path):
    calls = []

    def fake_train_control(sd_dir, data, cfg, out, control, kind, conditioning_channels, frozen_controlnets, validate):
        calls.append(dict(sd_dir=sd_dir, data=data, cfg=cfg, out=out, control=control, kind=kind,
                          channels=conditioning_channels, frozen=frozen_controlnets, validate=validate))
        return {"name": out.name}

    models = plan.rad_cn_plan("per-map", ["canny"], True, "data", "cfg")
    results = plan.train_plan(models, "sd", tmp_path, fake_train_control, validator=lambda m: f"validate {m['control']}")
    assert results == [{"name": "controlnet-canny"}, {"name": "t2i-adapter-canny"}]
    assert calls[0] == dict(sd_dir="sd", data="data", cfg="cfg", out=tmp_path / "controlnet-canny", control="canny",
                            kind="controlnet", channels=3, frozen=(), validate="validate canny")
    assert calls[1]["kind"] == "adapter" and calls[1]["validate"] is None  # baselines: no validation images


def test_trained_models_gathers_logs_folders_specs_and_validation(monkeypatch, tmp_path):
    monkeypatch.setenv(LOG_VARIABLE, str(tmp_path / "x.log"))
    models = plan.hva_cn_plan("data", training.TrainConfig(max_steps=2), [("r", "canny", 1.0)], train_baselines=True)
    results = [{"metrics": [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.25 + i}], "final": tmp_path / m["name"] / "final",
                "validation": [f"v{i}"], "steps": 2, "resumed_from": None} for i, m in enumerate(models)]
    logs, trained, specs, valid = plan.trained_models(models, results)
    assert list(logs) == list(trained) == list(specs) == list(valid) == ["hva-cn", "controlnet-hva", "t2i-adapter-hva"]
    assert logs["controlnet-hva"].loss.tolist() == [0.5, 1.25]
    assert trained["hva-cn"] == str(tmp_path / "hva-cn" / "final") and valid["t2i-adapter-hva"] == ["v2"]
    assert specs["hva-cn"] == {"name": "hva-cn", "folder": trained["hva-cn"], "kind": "controlnet", "control": "hva",
                               "frozen": [("r", "canny", 1.0)]}
    assert specs["t2i-adapter-hva"]["kind"] == "adapter" and specs["t2i-adapter-hva"]["frozen"] == ()
    assert [ln.split()[1].rstrip(":") for ln in (tmp_path / "x.log").read_text().splitlines()] == list(trained)  # benchmark lines


def test_rad_cn_registry_lists_rad_cns_controlnets_in_the_controls_order():
    trained = {"controlnet-gl": "f/gl", "controlnet-canny": "f/canny", "t2i-adapter-gl": "f/a"}
    reg = plan.rad_cn_registry("per-map", ["canny", "gl"], trained, 64, "smoke")
    assert reg["rad-cn"] == {"design": "per-map", "controls": ["canny", "gl"], "controlnets": ["f/canny", "f/gl"]}
    assert (reg["models"], reg["resolution"], reg["profile"]) == (trained, 64, "smoke")
    unified = plan.rad_cn_registry("unified", RADIOMICS, {"rad-cn": "f/u"}, 64, "teach")["rad-cn"]
    assert unified == {"design": "unified", "controls": ["unified"], "controlnets": ["f/u"]}


def test_hva_cn_registry_keeps_the_side_models_out_of_the_methods(tmp_path):
    for step in (4, 8):
        (tmp_path / "eq5" / f"checkpoint-{step:07d}").mkdir(parents=True)
        (tmp_path / "eq5" / f"checkpoint-{step:07d}" / "state.json").write_text("{}")
    trained = {"hva-cn": "h", "controlnet-hva": "c", "eq5": "e"}
    logs = {n: pd.DataFrame({"step": [1, 2, 3], "loss": [1.0, 0.5, 0.2]}) for n in trained}
    reg = plan.hva_cn_registry(trained, logs, tmp_path, {"eq5": "mask", "oracle": "box"}, rad_cn_scale=0.5,
                               resolution=64, profile="smoke")
    assert list(reg) == ["hva-cn", "models", "rad_cn_scale", "resolution", "profile", "controls_of", "checkpoints",
                         "steps", "eq5"]
    assert reg["models"] == {"hva-cn": "h", "controlnet-hva": "c"} and reg["eq5"] == "e"
    assert reg["controls_of"] == {"hva-cn": "hypothesis", "eq5": "mask", "oracle": "box"}
    assert reg["checkpoints"] == {"eq5": [str(tmp_path / "eq5" / f"checkpoint-{s:07d}" / "model") for s in (4, 8)]}
    assert reg["steps"] == {"eq5": 3} and trained == {"hva-cn": "h", "controlnet-hva": "c", "eq5": "e"}  # not mutated


# ---------------------------------------------------------------- generation.validation

class FakePipe:
    """A pipeline stand-in: records each call; image i is flat at (seed of i) / 255."""
    device = SimpleNamespace(type="cpu")
    controlnet = True

    def __init__(self, nets=()):
        self.nets, self.calls = list(nets), []

    def __call__(self, **kw):
        self.calls.append(kw)
        seeds = [g.initial_seed() for g in kw["generator"]]
        return SimpleNamespace(images=[np.full((kw["height"], kw["width"], 3), s / 255.0) for s in seeds])


class FakeSampler:
    def __init__(self):
        self.pipes = []

    def pipeline(self, controlnets=()):
        self.pipes.append(FakePipe(controlnets))
        return self.pipes[-1]


def test_rad_cn_and_radgazegen_validators_sample_the_test_batch_with_fixed_seeds():
    batch, sampler = _batch(controls=("canny", "sobel", "hva")), FakeSampler()
    images = validation.rad_cn_validator(sampler, batch, "sobel", steps=3, guidance=2.0, seeds=[5, 6, 7],
                                         resolution=8)("controlnet-being-trained", 4)
    assert images.shape == (3, 8, 8) and images[:, 0, 0].tolist() == [5, 6, 7]
    call = sampler.pipes[-1].calls[0]
    assert sampler.pipes[-1].nets == ["controlnet-being-trained"] and call["prompt"] == batch.prompts
    assert torch.equal(call["image"], batch.conditioning["sobel"]) and call["num_inference_steps"] == 3
    rad_cn = {"controlnets": ["r1", "r2"], "controls": ["canny", "sobel"]}
    validation.radgazegen_validator(sampler, batch, rad_cn, 0.5, steps=2, guidance=1.0, seeds=[0, 1, 2],
                                    resolution=8)("hva", 8)
    call = sampler.pipes[-1].calls[0]
    assert sampler.pipes[-1].nets == ["r1", "r2", "hva"] and call["controlnet_conditioning_scale"] == [0.5, 0.5, 1.0]
    assert [torch.equal(a, batch.conditioning[c]) for a, c in zip(call["image"], ["canny", "sobel", "hva"])] == [True] * 3


def test_sd_cxr_validator_samples_the_parts_being_trained(monkeypatch):
    pipe = FakePipe()
    monkeypatch.setattr(validation, "parts_pipeline", lambda parts, scheduler, device: pipe)
    images = validation.sd_cxr_validator("parts", ["a", "b"], scheduler="unipc", device="cpu", seed=10, steps=2,
                                         guidance=3.0, resolution=4)("unet", 15)
    assert images[:, 0, 0].tolist() == [10, 11] and "image" not in pipe.calls[0]
    assert pipe.calls[0]["guidance_scale"] == 3.0


def test_sample_rows_scales_every_controlnet_by_the_default_unless_given():
    batch, sampler = _batch(controls=("canny", "sobel", "hva")), FakeSampler()
    rows = validation.sample_rows(sampler, batch, {"A": (["n1", "n2"], ["canny", "sobel"], None),
                                                   "B": (["n1", "n2", "n3"], ["canny", "sobel", "hva"], [0.5, 0.5, 1.0])},
                                  steps=1, guidance=1.0, seeds=[1, 2, 3], resolution=8)
    assert list(rows) == ["A", "B"] and rows["B"].shape == (3, 8, 8)
    # generate's default, 1.0, for each of the row's two ControlNets (not a one-element list, which
    # diffusers' MultiControlNetModel would zip with its nets, leaving the second out)
    assert sampler.pipes[0].calls[0]["controlnet_conditioning_scale"] == [1.0, 1.0]
    assert sampler.pipes[1].calls[0]["controlnet_conditioning_scale"] == [0.5, 0.5, 1.0]


# ---------------------------------------------------------------- generation.evaluation_set

def test_test_findings_follow_the_hypotheses_of_the_items_test_images():
    hyp = pd.DataFrame({"dicom_id": ["a", "b", "a", "c"], "finding": ["F1", "F2", "F3", "F4"],
                        "split": ["test", "test", "test", "train"]})
    items = [Item("a", Path("a.png"), "p", {}), Item("c", Path("c.png"), "p", {})]
    assert evaluation_set.test_findings(hyp, items) == ["F1", "F3"]


def test_write_real_and_controls_and_the_manifest_rows(tmp_path):
    batch = _batch(n=2)
    items = [Item(f"d{i}", Path(f"{i}.png"), p, {}) for i, p in enumerate(batch.prompts)]
    real = evaluation_set.write_real_and_controls(tmp_path, items, ["F1", "F2"], batch, ["canny", "hva"])
    assert np.array_equal(real, to_uint8(batch.pixel_values))
    assert np.array_equal(cv2.imread(str(tmp_path / "real" / "00001.png"), cv2.IMREAD_GRAYSCALE), real[1])
    manifest = pd.read_csv(tmp_path / "real" / "manifest.csv")
    assert manifest.columns.tolist() == ["file", "dicom_id", "finding", "prompt", "controls", "scales", "seed",
                                         "replicate", "model"]
    assert manifest.seed.tolist() == [-1, -1] and set(manifest.model) == {"real"} and manifest.controls[0] == "[]"
    with np.load(tmp_path / "controls.npz") as z:
        assert sorted(z.files) == ["canny", "hva"]
        assert np.array_equal(z["hva"], to_uint8(batch.conditioning["hva"] * 2 - 1))


def test_generate_methods_uses_one_seed_per_item_and_replicate_for_every_method(tmp_path):
    calls = []

    class Sampler:
        def sample(self, method, prompts, conditioning, seeds, negative_prompt, **sampling):
            calls.append((method.name, list(seeds), negative_prompt, sampling))
            return np.stack([np.full((4, 4), s % 256, np.uint8) for s in seeds])

    registry = {n: SimpleNamespace(name=n, folder=n.lower(), inputs=("canny",), scales=(0.5,), negative_prompt=neg)
                for n, neg in (("A", ""), ("B", "theirs"))}
    batch = _batch(n=2)
    items = [Item(f"d{i}", Path(f"{i}.png"), p, {}) for i, p in enumerate(batch.prompts)]
    generated, manifests = evaluation_set.generate_methods(Sampler(), registry, items, ["F1", "F2"], batch, [3, 4], tmp_path,
                                                     n_replicates=2, negative_prompt="ours", steps=5, guidance=2.0,
                                                     resolution=4)
    assert calls == [("A", [3, 4], "ours", {"steps": 5, "guidance": 2.0, "resolution": 4}),
                     ("A", [1003, 1004], "ours", {"steps": 5, "guidance": 2.0, "resolution": 4}),
                     ("B", [3, 4], "theirs", {"steps": 5, "guidance": 2.0, "resolution": 4}),
                     ("B", [1003, 1004], "theirs", {"steps": 5, "guidance": 2.0, "resolution": 4})]
    assert generated["A"][:, 0, 0].tolist() == [3, 4]  # the first replicate
    assert manifests["B"].seed.tolist() == [3, 4, 1003, 1004] and manifests["B"].replicate.tolist() == [0, 0, 1, 1]
    assert json.loads(manifests["A"].scales[0]) == [0.5] and len(list((tmp_path / "b").glob("*.png"))) == 4


# ---------------------------------------------------------------- figures.training_figures

def test_running_mean_window_is_a_tenth_of_the_log():
    loss = pd.Series(np.arange(20, dtype=float))
    assert training_figures.running_mean(loss).tolist()[:3] == [0.0, 0.5, 1.5]  # window 2
    assert training_figures.running_mean(pd.Series([4.0, 2.0])).tolist() == [4.0, 2.0]  # window 1


def test_plot_training_loss_per_step_or_one_running_mean_per_model():
    log = pd.DataFrame({"step": np.arange(1, 21), "loss": np.linspace(1, 0.1, 20)})
    fig = training_figures.plot_training_loss({"SD-CXR": log}, per_step=True)
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["per step", "running mean"]
    assert np.allclose(ax.lines[1].get_ydata(), training_figures.running_mean(log.loss))
    assert tuple(fig.get_size_inches()) == (5.5, 3.0) and ax.get_ylabel() == "noise-prediction MSE"
    logs = {"a": log, "b": log.assign(loss=log.loss * 2), "c": log}
    fig = training_figures.plot_training_loss(logs, legend_below=True)
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["a", "b", "c"] and ax.get_legend()._ncols == 3
    assert np.allclose(ax.lines[1].get_ydata(), training_figures.running_mean(log.loss * 2))
    assert fig.get_size_inches()[0] == pytest.approx(6.6) and "running mean" in ax.get_ylabel()
    assert training_figures.plot_training_loss(logs).axes[0].get_legend()._ncols == 1
    with pytest.raises(ValueError):
        training_figures.plot_training_loss(logs, per_step=True)  # one model only


def test_real_radiographs_are_withheld_unless_shown_and_item_rows_figure_shape():
    batch = _batch(n=2)
    shown = training_figures.real_radiographs(batch, True)
    assert [np.array_equal(a, b) for a, b in zip(shown, to_uint8(batch.pixel_values))] == [True, True]
    grey = training_figures.real_radiographs(batch, False)
    assert grey[0].shape == (8, 8) and grey[0][0, 1] == 128 and grey[0][0, 0] == 0  # flat grey with a cross
    columns = {"real": shown, **training_figures.control_columns(batch, ["canny"]),
               "gaze": training_figures.control_maps(batch, "hva")}
    assert list(columns) == ["real", "Canny", "gaze"]
    assert np.array_equal(columns["gaze"][1], batch.conditioning["hva"][1, 0].numpy())
    fig = training_figures.item_rows_figure(columns)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len([ax for ax in fig.axes if ax.images]) == 6 and titled == ["real", "Canny", "gaze"]
    assert training_figures.item_rows_figure({"real": [], "x": []}) is None


def test_sd_cxr_samples_figure_pairs_real_rows_with_generated_rows(tmp_path):
    items = []
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((16, 16), 20 * i, np.uint8))
        items.append(Item(f"d{i}", tmp_path / f"{i}.png", f"report number {i} " * 5, {}))
    images = np.zeros((5, 8, 8), np.uint8)
    fig = training_figures.sd_cxr_samples_figure(items, images, 8, True)
    assert len([ax for ax in fig.axes if ax.images]) == 10  # 4 + 4, then 1 + 1
    assert training_figures.sd_cxr_samples_figure([], images[:0], 8, True) is None


# ---------------------------------------------------------------- figures.generation_figures

def test_highlight_finding_capitalises_the_findings_words_only():
    text = "Mild cardiomegaly. No opacity."
    assert generation_figures.highlight_finding(text, "Cardiomegaly") == "Mild CARDIOMEGALY. No opacity."
    assert generation_figures.highlight_finding(text, "No Such Finding") == text


def test_findings_and_controls_figures_show_the_generated_methods_only():
    generated = {"M1": np.zeros((2, 8, 8), np.uint8), "M2": np.ones((2, 8, 8), np.uint8)}
    fig = generation_figures.findings_figure(np.zeros((2, 8, 8), np.uint8), generated, ["M1", "absent", "M2"],
                                             ["F1", "F2"], [(1, 1, 4, 4), None], True)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["real", "M1", "M2"]
    assert len([ax for ax in fig.axes if ax.images]) == 6
    assert generation_figures.findings_figure(np.zeros((0, 8, 8)), generated, ["M1"], [], [], True) is None
    batch = _batch(n=2, controls=("canny", "hva"))
    fig = generation_figures.controls_figure([("M1", ["canny"]), ("M2", ["canny", "hva"])], generated, batch)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["Canny", "generated", "Canny", "HVA", "generated"]
    assert generation_figures.controls_figure([], generated, batch) is None


def test_the_oracle_draws_the_findings_box_from_the_one_lookup_and_drops_findings_without_one(tmp_path):
    """Chapter 06's oracle control: the item's finding's ground-truth box (image pixels, from
    ``controls.gaze.finding_boxes``), drawn filled on a ``size`` grid; no box, no item."""
    from radgazegen.models.training_data import oracle_items

    (tmp_path / "ground_truth").mkdir()
    pd.DataFrame({"dicom_id": ["a", "a"], "label": ["Mass", "Effusion"], "side": ["L", "R"], "zone": ["mid", "low"],
                  "xmin": [16, 0], "ymin": [8, 0], "xmax": [32, 4], "ymax": [24, 4]}
                 ).to_csv(tmp_path / "ground_truth" / "findings.csv", index=False)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 128), np.uint8))  # h 64, w 128
    items = [Item("a", tmp_path / "a.png", "mass", finding="Mass"), Item("a", tmp_path / "a.png", "nodule", finding="Nodule")]
    out = oracle_items(tmp_path / "run", tmp_path, items, size=16)
    assert [it.finding for it in out] == ["Mass"]
    mask = cv2.imread(str(out[0].controls["hva"]), cv2.IMREAD_GRAYSCALE)
    expected = np.zeros((16, 16), np.uint8)
    expected[2:6, 2:4] = 255  # y 8-24 of 64 -> 2-6 of 16; x 16-32 of 128 -> 2-4 of 16
    assert mask.shape == (16, 16) and np.array_equal(mask, expected)
