"""Stable Diffusion parts built offline, the loading errors, and the training loop's resume."""
from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from radgazegen.models import check_sd_directory, clip_tokenizer, encode_prompt, new_controlnet, save_sd_parts, sd_parts
from radgazegen.models.training import Batch, TrainConfig, checkpoints, train


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tokenizer")


def test_offline_clip_tokenizer_gives_clips_ids(tok_dir):
    tok = clip_tokenizer(tok_dir)
    # CLIP ViT-L/14's ids for this phrase (start 49406, end 49407)
    assert tok("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tok) == 49408 and tok.model_max_length == 77


def test_long_prompts_are_truncated_with_a_warning(tok_dir):
    parts = sd_parts("tiny", tok_dir, resolution=32)
    with pytest.warns(UserWarning, match=r"prompt 1: \d+ tokens, truncated to 77"):
        emb = encode_prompt(parts, ["small effusion", "opacity " * 120])
    assert emb.shape == (2, 77, 32)
    with pytest.warns(UserWarning, match="truncated to 77"):
        longer = encode_prompt(parts, ["opacity " * 200])  # the same first 77 tokens: the same states
    assert torch.allclose(emb[1], longer[0], atol=1e-6)
    assert torch.allclose(emb[0], encode_prompt(parts, ["small effusion"])[0], atol=1e-6)  # the short one untouched


def test_missing_weights_directory_names_the_path_and_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere: Stable Diffusion directory not found.*unet/config.json"):
        check_sd_directory(tmp_path / "nowhere")
    (tmp_path / "sd" / "unet").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"missing tokenizer/tokenizer_config.json, text_encoder/config.json, vae/config.json"):
        sd_parts(str(tmp_path / "sd"))


def test_saved_parts_load_in_stock_diffusers_and_back(tok_dir, tmp_path):
    from diffusers import StableDiffusionPipeline

    parts = sd_parts("tiny", tok_dir, resolution=32)
    save_sd_parts(parts, tmp_path / "sd")
    again = sd_parts(str(tmp_path / "sd"))
    for a, b in zip(parts.unet.state_dict().values(), again.unet.state_dict().values()):
        assert torch.equal(a, b)
    pipe = StableDiffusionPipeline.from_pretrained(str(tmp_path / "sd"))
    out = pipe("effusion", num_inference_steps=2, height=32, width=32, output_type="np",
               generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (1, 32, 32, 3)


def _data():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.uniform(-1, 1, (6, 3, 32, 32)).astype(np.float32))
    controls = torch.from_numpy(rng.uniform(0, 1, (6, 3, 32, 32)).astype(np.float32))
    return lambda idx: Batch(images[idx], [f"finding {i}" for i in idx], {"canny": controls[idx]})


def _train(tok_dir, out, steps, controlnet: bool, mixed_precision: str = "no"):
    torch.manual_seed(0)
    parts = sd_parts("tiny", tok_dir, resolution=32)
    cn = new_controlnet(parts) if controlnet else None
    cfg = TrainConfig(max_steps=steps, batch_size=2, checkpoint_every=2, lr=1e-3, mixed_precision=mixed_precision)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(parts, _data(), 6, cfg, out, controlnet=cn, control_name="canny", progress=False)
    return (cn or parts.unet), result


def _cpu_fp16(monkeypatch) -> list:
    """Make ``train``'s fp16 on this CPU what accelerate makes it on a GPU; returns the loss scalers made.

    accelerate (1.15) accepts ``mixed_precision="fp16"`` on a CPU but neither autocasts nor
    scales the loss there (``Accelerator.scaler`` is None: it makes a GradScaler only for
    GPU-class devices), and ``train`` refuses it. Here the accelerator gets what accelerate
    gives it on a GPU: native autocast (torch's CPU autocast to float16) and a real
    ``torch.amp.GradScaler("cpu")``, which ``accelerate`` then uses as its own (scaled backward,
    unscale before clipping, a step skipped on inf/NaN gradients, the scale updated). The scale
    starts at 2**20 and may grow every step (``growth_interval=1``), so that the tiny model's fp16
    gradients overflow now and then: steps 1-2 are taken (scale 2**20 -> 2**22), steps 3-4
    overflow and are skipped (-> 2**20). A resumed run whose scale restarted at 2**20 would take
    step 3.
    """
    from radgazegen.models import training

    real, made = training.accelerator, []

    def accelerator(mixed_precision="no", grad_accum=1):
        acc = real(mixed_precision, grad_accum)
        if mixed_precision == "fp16":
            acc.native_amp, acc.scaler = True, torch.amp.GradScaler("cpu", init_scale=2.0 ** 20, growth_interval=1)
            made.append(acc.scaler)
        return acc

    monkeypatch.setattr(training, "accelerator", accelerator)
    return made


@pytest.mark.parametrize("controlnet, precision", [(False, "no"), (True, "no"), (True, "bf16"), (True, "fp16")],
                         ids=["sd-cxr-unet", "controlnet", "controlnet-bf16", "controlnet-fp16"])
def test_interrupted_training_resumes_to_the_same_weights(tok_dir, tmp_path, monkeypatch, capsys, controlnet, precision):
    """An unbroken run and one stopped after 2 of 4 steps and resumed end with identical weights
    (``torch.equal``), in fp32, under bf16 autocast and under fp16 with a loss scaler whose
    state the checkpoint carries (``scaler.json``; fp16 on this CPU as on a GPU: ``_cpu_fp16``)."""
    scalers = _cpu_fp16(monkeypatch) if precision == "fp16" else []
    straight, r1 = _train(tok_dir, tmp_path / "a", 4, controlnet, precision)
    _train(tok_dir, tmp_path / "b", 2, controlnet, precision)  # "killed" after step 2: only its checkpoint remains
    shutil.rmtree(tmp_path / "b" / "final")
    resumed, r2 = _train(tok_dir, tmp_path / "b", 4, controlnet, precision)
    assert r2["resumed_from"].endswith("checkpoint-0000002") and r1["resumed_from"] is None
    assert [m["step"] for m in r2["metrics"]] == [1, 2, 3, 4] and r1["metrics"] == r2["metrics"]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    ck = checkpoints(tmp_path / "b")[-1]
    assert (ck / "model" / "diffusion_pytorch_model.safetensors").is_file() and (ck / "optimizer.safetensors").is_file()
    assert not list(ck.rglob("*.bin")) and not list(ck.rglob("*.pt"))  # nothing pickled
    assert (ck / "scaler.json").is_file() == (precision == "fp16")
    if precision != "fp16":
        return
    assert scalers[0].state_dict() == scalers[2].state_dict()  # the same loss scale at the end
    assert json.loads((tmp_path / "b" / "checkpoint-0000002" / "scaler.json").read_text())["scale"] == 2.0 ** 22
    # without the scaler's state the resumed run restarts the scale at 2**20, takes step 3 and ends elsewhere
    (tmp_path / "c").mkdir()
    shutil.copytree(tmp_path / "b" / "checkpoint-0000002", tmp_path / "c" / "checkpoint-0000002")
    (tmp_path / "c" / "checkpoint-0000002" / "scaler.json").unlink()
    restarted, _ = _train(tok_dir, tmp_path / "c", 4, controlnet, precision)
    assert "no loss-scaler state" in capsys.readouterr().out
    assert not all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), restarted.state_dict().values()))


def test_fp16_on_a_cpu_is_refused_in_one_line(tok_dir, tmp_path):
    """accelerate would run it without autocast or a loss scaler (and our fp16 frozen parts would
    then meet fp32 weights): refused, with what to use instead."""
    with pytest.raises(ValueError, match=r"fp16.* needs a GPU.*use 'bf16' or 'no'"):
        _train(tok_dir, tmp_path, 2, True, "fp16")


@pytest.mark.parametrize("damage", ["truncated-weights", "zero-byte-optimizer", "missing-state"])
def test_a_checkpoint_that_does_not_load_is_set_aside_and_an_older_one_resumed(tok_dir, tmp_path, capsys, damage):
    straight, _ = _train(tok_dir, tmp_path / "a", 4, False)
    _train(tok_dir, tmp_path / "b", 4, False)  # checkpoints at steps 2 and 4, then "killed" before final
    shutil.rmtree(tmp_path / "b" / "final")
    newest = tmp_path / "b" / "checkpoint-0000004"
    if damage == "truncated-weights":
        f = newest / "model" / "diffusion_pytorch_model.safetensors"
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif damage == "zero-byte-optimizer":
        (newest / "optimizer.safetensors").write_bytes(b"")
    else:
        (newest / "state.json").write_text("{")
    resumed, r = _train(tok_dir, tmp_path / "b", 4, False)
    warning = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and "checkpoint-0000004 does not load" in warning[0]
    assert r["resumed_from"].endswith("checkpoint-0000002") and (tmp_path / "b" / "broken-checkpoint-0000004").is_dir()
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)  # the numbers of an unbroken run


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8")
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(max_steps=0)


def test_saved_tokenizer_files_do_not_depend_on_the_prompts_encoded_before(tok_dir, tmp_path):
    """Chapter 04 rerun over finished training encodes no prompt before saving; its files must be
    the first run's, byte for byte (a fast tokenizer writes its last call's padding into them)."""
    parts = sd_parts("tiny", tok_dir, resolution=32)
    save_sd_parts(parts, tmp_path / "fresh")
    encode_prompt(parts, ["left lower lobe consolidation", "no finding"])
    save_sd_parts(parts, tmp_path / "used")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "used" / "tokenizer" / name).read_bytes() == (tmp_path / "fresh" / "tokenizer" / name).read_bytes()


def test_generation_equals_stock_diffusers_with_our_saved_controlnets(tok_dir, tmp_path):
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, UniPCMultistepScheduler

    from radgazegen.generation import controlnet_pipeline, generate, write_generation

    torch.manual_seed(0)
    parts = sd_parts("tiny", tok_dir, resolution=32)
    save_sd_parts(parts, tmp_path / "sd")
    dirs = []
    for name in ("rad", "hva"):
        cn = new_controlnet(parts)
        with torch.no_grad():  # non-zero residuals, so the controls matter
            for p in cn.parameters():
                p.add_(0.05 * torch.randn_like(p))
        cn.save_pretrained(str(tmp_path / name))
        dirs.append(tmp_path / name)
    controls = [torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    ours = generate(controlnet_pipeline(tmp_path / "sd", dirs), ["effusion"], controls, scales=[1.0, 0.8],
                    steps=3, seeds=[7], resolution=32)
    stock = StableDiffusionControlNetPipeline.from_pretrained(
        str(tmp_path / "sd"), controlnet=[ControlNetModel.from_pretrained(str(d)) for d in dirs],
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    stock.scheduler = UniPCMultistepScheduler.from_config(stock.scheduler.config)
    ref = stock("effusion", image=controls, controlnet_conditioning_scale=[1.0, 0.8], num_inference_steps=3,
                height=32, width=32, output_type="np", generator=torch.Generator().manual_seed(7)).images
    ref = np.clip(ref.mean(axis=-1) * 255, 0, 255).round().astype(np.uint8)
    assert ours.shape == (1, 32, 32) and np.array_equal(ours, ref)
    off = generate(controlnet_pipeline(tmp_path / "sd", dirs), ["effusion"], controls, scales=[1.0, 0.0],
                   steps=3, seeds=[7], resolution=32)
    assert not np.array_equal(off, ours)  # switching HVA-CN off (Eq. 6 indicator) changes the image
    # one number is every ControlNet's scale (diffusers' MultiControlNetModel zips scales with its
    # nets: a one-element list would leave HVA-CN out); a list of another length is refused
    pipe = controlnet_pipeline(tmp_path / "sd", dirs)
    both = generate(pipe, ["effusion"], controls, scales=1.0, steps=3, seeds=[7], resolution=32)
    assert np.array_equal(both, generate(pipe, ["effusion"], controls, scales=[1.0, 1.0], steps=3, seeds=[7], resolution=32))
    assert not np.array_equal(both, off)
    with pytest.raises(ValueError, match="1 conditioning scale"):
        generate(pipe, ["effusion"], controls, scales=[1.0], steps=3, seeds=[7], resolution=32)
    manifest = write_generation(tmp_path / "gen", ours, [{"prompt": "effusion", "scales": [1.0, 0.8], "seed": 7}])
    assert list(manifest.columns) == ["file", "prompt", "scales", "seed"] and (tmp_path / "gen" / "00000.png").is_file()


def test_checkpoints_of_another_setup_are_not_resumed(tok_dir, tmp_path):
    _train(tok_dir, tmp_path / "a", 2, False)
    shutil.rmtree(tmp_path / "a" / "final")
    torch.manual_seed(0)
    parts = sd_parts("tiny", tok_dir, resolution=32)
    with torch.no_grad():
        next(parts.unet.parameters()).add_(1.0)  # other initial weights, e.g. a retrained SD-CXR
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(parts, _data(), 6, TrainConfig(max_steps=3, batch_size=2, checkpoint_every=2, lr=1e-3),
                       tmp_path / "a", progress=False)
    assert result["resumed_from"] is None and [m["step"] for m in result["metrics"]] == [1, 2, 3]


def test_validation_images_are_written_and_kept_across_a_resume(tok_dir, tmp_path):
    import cv2

    seen = []

    def validate(model, step):
        seen.append((step, model.training))
        return np.full((2, 8, 8), 10 * step, np.uint8)  # two 8x8 images

    def run(steps, resume=True):
        torch.manual_seed(0)
        parts = sd_parts("tiny", tok_dir, resolution=32)
        cfg = TrainConfig(max_steps=steps, batch_size=2, checkpoint_every=2, validate_every=2, lr=1e-3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return train(parts, _data(), 6, cfg, tmp_path, validate=validate, resume=resume, progress=False)

    assert [p.name for p in run(3)["validation"]] == ["step-0000002.png", "step-0000003.png"]  # every 2 and the last
    assert seen == [(2, False), (3, False)]  # called in eval mode
    row = cv2.imread(str(tmp_path / "validation" / "step-0000003.png"), cv2.IMREAD_GRAYSCALE)
    assert row.shape == (8, 16) and (row == 30).all()  # the images side by side
    shutil.rmtree(tmp_path / "final")
    shutil.rmtree(tmp_path / "checkpoint-0000003")  # killed after step 2's checkpoint
    assert [p.name for p in run(4)["validation"]] == ["step-0000002.png", "step-0000004.png"]  # step 3's is dropped
    assert [p.name for p in run(2, resume=False)["validation"]] == ["step-0000002.png"]  # a fresh run: a new series


def test_vae_trained_from_scratch_learns_to_reconstruct(tok_dir):
    from radgazegen.models.training import train_vae

    torch.manual_seed(0)
    parts = sd_parts("tiny", tok_dir, resolution=32)
    yy, xx = np.mgrid[:32, :32]
    disks = np.stack([np.where((xx - cx) ** 2 + (yy - cy) ** 2 < 64, 0.8, -0.8) for cx, cy in
                      [(8, 8), (24, 8), (8, 24), (24, 24), (16, 16), (12, 20)]]).astype(np.float32)
    images = torch.from_numpy(disks)[:, None].repeat(1, 3, 1, 1)
    data = lambda idx: Batch(images[idx], ["x"] * len(idx), {})  # noqa: E731
    losses = train_vae(parts.vae, data, 6, steps=60, batch_size=4, lr=2e-3, progress=False, device="cpu")
    assert len(losses) == 60 and np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert parts.vae.config.scaling_factor > 0 and not parts.vae.training


def test_generation_does_not_depend_on_batching(tok_dir, tmp_path):
    from radgazegen.generation import generate, text_pipeline

    torch.manual_seed(0)
    save_sd_parts(sd_parts("tiny", tok_dir, resolution=32), tmp_path / "sd")
    pipe = text_pipeline(tmp_path / "sd")
    prompts, seeds = ["effusion", "edema", "no finding"], [3, 4, 5]
    one = generate(pipe, prompts, steps=2, seeds=seeds, resolution=32, batch_size=1)
    three = generate(pipe, prompts, steps=2, seeds=seeds, resolution=32, batch_size=3)
    assert one.shape == (3, 32, 32) and np.array_equal(one, three)


@pytest.mark.parametrize("kind", ["unet", "controlnet", "hva-over-rad", "adapter"])
def test_bf16_mixed_precision_trains_every_model_kind(tok_dir, tmp_path, kind):
    from radgazegen.models import new_adapter, new_controlnet
    from radgazegen.models.training import accelerator

    # an earlier fp32 run in the same process (a notebook trains several models) must not
    # pin accelerate's process-wide precision (CI failed on this order once)
    accelerator("no")
    torch.manual_seed(0)
    parts = sd_parts("tiny", tok_dir, resolution=32)
    kw = {"control_name": "canny"}
    if kind in ("controlnet", "hva-over-rad"):
        kw["controlnet"] = new_controlnet(parts)
    if kind == "hva-over-rad":
        kw["frozen_controlnets"] = [(new_controlnet(parts), "canny", 1.0)]
    if kind == "adapter":
        kw["adapter"] = new_adapter(parts)
    cfg = TrainConfig(max_steps=2, batch_size=2, mixed_precision="bf16", checkpoint_every=0,
                      gradient_checkpointing=kind == "unet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(parts, _data(), 6, cfg, tmp_path / kind, progress=False, **kw)
    assert [m["step"] for m in result["metrics"]] == [1, 2] and all(np.isfinite(m["loss"]) for m in result["metrics"])


def test_eq6_indicator_switches_controls_off_in_both_designs():
    from radgazegen.generation import control_tensors
    from radgazegen.generation.methods import eq6

    def radgazegen_spec(*args):  # the method's models, inputs and scales, as lists
        m = eq6(*args)
        return {"controlnets": list(m.model_dirs), "controls": list(m.inputs), "scales": list(m.scales)}

    hva = {"hva-cn": "H"}
    unified = {"rad-cn": {"design": "unified", "controlnets": ["U"], "controls": ["unified"]}}
    per_map = {"rad-cn": {"design": "per-map", "controlnets": ["C", "S", "G", "M"],
                          "controls": ["canny", "sobel", "gl", "segmentation"]}}
    spec = radgazegen_spec(unified, hva, ["gl", "hva"], 0.5, 0.1)
    assert spec == {"controlnets": ["U", "H"], "controls": ["unified:gl", "hva"], "scales": [0.5, 0.1]}
    assert radgazegen_spec(unified, hva, ["canny", "sobel", "gl", "segmentation"])["controls"] == ["unified"]
    assert radgazegen_spec(per_map, hva, ["canny", "segmentation", "hva"])["controlnets"] == ["C", "M", "H"]
    assert radgazegen_spec(per_map, hva, ["hva"]) == {"controlnets": ["H"], "controls": ["hva"], "scales": [1.0]}
    with pytest.raises(ValueError, match="unknown control"):
        radgazegen_spec(unified, hva, ["edges"])
    cond = {"unified": torch.ones(2, 4, 8, 8), "hva": torch.ones(2, 3, 8, 8)}
    x, h = control_tensors(cond, ["unified:sobel+segmentation", "hva"])
    assert x[:, [1, 3]].eq(1).all() and x[:, [0, 2]].eq(0).all() and cond["unified"].eq(1).all() and h is cond["hva"]


def test_prompt_dropout_empties_a_seeded_share_of_prompts(monkeypatch, tok_dir):
    """proportion_empty_prompts (diffusers' name): the unconditional branch of guidance is trained."""
    from radgazegen import models
    from radgazegen.models import objective, training

    seen = []
    real = models.encode_prompt
    monkeypatch.setattr(models, "encode_prompt", lambda parts, prompts, **kw: seen.append(list(prompts)) or real(parts, prompts, **kw))
    with pytest.raises(ValueError, match="proportion_empty_prompts"):
        training.TrainConfig(proportion_empty_prompts=1.5)

    class Acc:
        device, mixed_precision = torch.device("cpu"), "no"

    parts = models.sd_parts("tiny", tok_dir, resolution=32)
    batch = training.Batch(torch.zeros(64, 3, 32, 32), [f"prompt {i}" for i in range(64)], {})
    for p, expect in ((0.0, 0), (0.5, None), (1.0, 64)):
        obj = objective.NoiseObjective(parts, Acc(), "unet", [], [], proportion_empty_prompts=p)
        obj._noised(batch, torch.Generator().manual_seed(0))
        emptied = seen[-1].count("")
        assert emptied == expect if expect is not None else 16 < emptied < 48
    obj._noised(batch, torch.Generator().manual_seed(0))
    again = seen[-1]
    obj._noised(batch, torch.Generator().manual_seed(0))
    assert seen[-1] == again  # seeded


def test_eq6_is_one_sum_for_training_and_sampling(tok_dir):
    """Eq. 6's ⊕ (``objective.eq6_residuals``, the MultiControlNetModel the sampling pipeline
    uses): each ControlNet's residuals scaled by its scale and summed block by block; a scale of
    0 switches a control off; HVA-CN's training loss runs through it (the frozen Rad-CN first)."""
    from radgazegen import models
    from radgazegen.models.objective import Batch, NoiseObjective, eq6_residuals

    parts = models.sd_parts("tiny", tok_dir, resolution=32)
    torch.manual_seed(0)
    rad, hva = models.new_controlnet(parts), models.new_controlnet(parts)
    for net in (rad, hva):  # zero convolutions would make every residual 0: give them weights
        for p in net.parameters():
            p.data.normal_(0, 0.05)
    h = 32 // parts.vae_scale_factor
    z, t = torch.randn(2, 4, h, h), torch.tensor([10, 500])
    c = torch.randn(2, 77, parts.text_encoder.config.hidden_size)
    cr, cv = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        (dr, mr), (dv, mv) = (net(z, t, encoder_hidden_states=c, controlnet_cond=x, return_dict=False) for net, x in ((rad, cr), (hva, cv)))
        down, mid = eq6_residuals([rad, hva], z, t, c, [cr, cv], [0.7, 1.5])
        assert all(torch.allclose(d, 0.7 * a + 1.5 * b, atol=1e-5) for d, a, b in zip(down, dr, dv))
        assert torch.allclose(mid, 0.7 * mr + 1.5 * mv, atol=1e-5)
        off, _ = eq6_residuals([rad, hva], z, t, c, [cr, cv], [1.0, 0.0])
        assert all(torch.allclose(d, a, atol=1e-6) for d, a in zip(off, dr))

    class Acc:
        device, mixed_precision = torch.device("cpu"), "no"

        def autocast(self):
            return torch.autocast("cpu", enabled=False)

    obj = NoiseObjective(parts, Acc(), "controlnet", ["hva"], [(rad, "canny", 0.7)])
    batch = Batch(torch.zeros(2, 3, 32, 32), ["a", "b"], {"canny": cr, "hva": cv})
    with torch.no_grad():
        got = obj._eps_controlnet(hva, batch, z, t, c)
        down, mid = eq6_residuals([rad, hva], z, t, c, [cr, cv], [0.7, 1.0])
        want = parts.unet(z, t, encoder_hidden_states=c, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
    assert torch.allclose(got, want, atol=1e-6)


def test_a_chapters_parameters_make_its_train_config():
    from radgazegen.models.training import TrainConfig

    chapter = {"max_steps": 12, "batch_size": 8, "lr": 3e-4, "seed": 5, "resolution": 64, "keep_checkpoints": 4}
    config = TrainConfig.from_parameters(chapter, seed=6)
    assert (config.max_steps, config.batch_size, config.lr, config.keep_checkpoints, config.seed) == (12, 8, 3e-4, 4, 6)
    assert config.grad_accum == TrainConfig().grad_accum  # not a parameter of this chapter: the default
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig.from_parameters({"max_steps": 0})
