"""Benchmarks that print figures (never asserted): ``python -m radgazegen bench``.

- cohort generation throughput: images/s for ``n`` images at 512x512 (target: 200 in < 30 s);
- control maps: images/s for the whole control set (Canny + Sobel + GL + weight-free lung
  mask + HVA map) at 512x512, batched over a thread pool, against a straightforward
  per-image SciPy version like the authors' (target: >= 50 images/s for radiomics + HVA);
- Rad-CN training on CPU at smoke size: optimiser steps/s and the process's peak memory;
- the smoke main job's wall time: every smoke notebook from scratch, then the book
  (target once all notebooks exist: < 10 minutes after install).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def cohort_throughput(n_images: int = 200, size: tuple[int, int] = (512, 512)) -> dict[str, float]:
    """Generate a cohort of ``n_images`` MIMIC-CXR-style radiographs in a temp folder; timing."""
    from radgazegen.synthetic import CohortConfig, generate_cohort

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generate_cohort(Path(tmp) / "cohort", CohortConfig(seed=0, n_mimic=n_images, n_chexpert=0,
                                                           image_size=size), progress=True)
        dt = time.perf_counter() - t0
    return {"images": n_images, "seconds": dt, "images_per_s": n_images / dt}


def _bench_inputs(n: int, original: tuple[int, int] = (2544, 3056), n_fixations: int = 200):
    """``n`` phantom radiographs at 512x512 and one reading's fixations on a ``original`` (w, h) image."""
    import numpy as np
    import pandas as pd

    from radgazegen.synthetic import render_phantom

    rng = np.random.default_rng(0)
    images = [render_phantom(["Pleural Effusion"], rng, size=(512, 512)).image for _ in range(n)]
    t = np.sort(rng.uniform(0, 60, n_fixations))
    fix = pd.DataFrame({"x": rng.uniform(0, original[0], n_fixations), "y": rng.uniform(0, original[1], n_fixations),
                        "start": t, "end": t + 0.25})
    return images, fix, original


def control_set_throughput(n_images: int = 64, n_reference: int = 8, workers: int | None = None) -> dict[str, float]:
    """Images/s of the control set: the package's batched code vs a per-image SciPy reference."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2
    import numpy as np
    from scipy import ndimage

    from radgazegen import controls
    from radgazegen.controls import gaze, segmentation

    images, fix, original = _bench_inputs(n_images)
    workers = workers or os.cpu_count() or 1

    def radiomics_hva(im):
        controls.canny(im, size=None), controls.sobel(im, size=None), controls.gaussian_laplace(im, size=None)
        return gaze.hva_map(fix, original, sigma_px=64.0, out_size=(512, 512))

    def everything(im):
        radiomics_hva(im)
        return segmentation.classical_lung_mask(im)

    def reference(im):  # per image, float64 SciPy filters and the HVA map at full resolution, as the authors
        cv2.Canny(im, 40, 50)
        g = im.astype(np.float64)
        mag = np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1))
        (mag / mag.max() * 255).astype(np.uint8)
        log = np.abs(ndimage.gaussian_laplace(g, 1.0))
        (log / log.max() * 255).astype(np.uint8)
        grid = np.zeros(original[::-1])
        np.add.at(grid, (fix.y.to_numpy().astype(int), fix.x.to_numpy().astype(int)), 1.0)
        hva = ndimage.gaussian_filter(grid, 64.0)
        cv2.resize(hva / hva.max(), (512, 512), interpolation=cv2.INTER_AREA)
        return segmentation.classical_lung_mask(im)

    out = {"images": n_images, "workers": workers}
    with ThreadPoolExecutor(workers) as pool:
        for name, fn in (("radiomics + HVA", radiomics_hva), ("whole control set", everything)):
            list(pool.map(fn, images[:2]))  # warm-up
            t0 = time.perf_counter()
            list(pool.map(fn, images))
            out[f"{name}, batched (images/s)"] = n_images / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for im in images[:n_reference]:
        reference(im)
    out["whole control set, per-image SciPy reference (images/s)"] = n_reference / (time.perf_counter() - t0)
    out["speed-up (whole set)"] = out["whole control set, batched (images/s)"] / out[
        "whole control set, per-image SciPy reference (images/s)"]
    return out


_RADCN_CPU = """
import json, resource, sys, time, tempfile, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
from radgazegen.models import new_controlnet, sd_parts
from radgazegen.models.training import Batch, TrainConfig, train
from radgazegen.core.vocabulary import UNIFIED
steps, res = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
px = torch.from_numpy(rng.uniform(-1, 1, (16, 3, res, res)).astype(np.float32))
cond = torch.from_numpy(rng.uniform(0, 1, (16, 4, res, res)).astype(np.float32))
data = lambda idx: Batch(px[idx], ["right pleural effusion"] * len(idx), {UNIFIED: cond[idx]})
with tempfile.TemporaryDirectory() as tmp:
    parts = sd_parts("tiny", tmp + "/tok", resolution=res)
    cn = new_controlnet(parts, 4)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    train(parts, data, 16, TrainConfig(max_steps=2, batch_size=4, checkpoint_every=0), tmp + "/warm", controlnet=cn,
          control_name=UNIFIED, progress=False)
    t0 = time.perf_counter()
    train(parts, data, 16, TrainConfig(max_steps=steps, batch_size=4, checkpoint_every=0), tmp + "/run",
          controlnet=new_controlnet(parts, 4), control_name=UNIFIED, progress=False)
    dt = time.perf_counter() - t0
print(json.dumps({"steps": steps, "seconds": dt, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "params_m": sum(p.numel() for p in cn.parameters()) / 1e6}))
"""


def radcn_training_cpu(steps: int = 30, resolution: int = 64) -> dict[str, float]:
    """Rad-CN training at smoke size on CPU (tiny parts, unified 4-channel control, batch 4): steps/s, peak RSS."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _RADCN_CPU, str(steps), str(resolution)], capture_output=True,
                         text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["steps_per_s"] = r["steps"] / r["seconds"]
    return r


def smoke_main_job() -> dict[str, float]:
    """Run the smoke profile from scratch into a temp run folder, then build the book."""
    from radgazegen.study.publish import build_book
    from radgazegen.study.runner import Study

    with tempfile.TemporaryDirectory() as tmp:
        study = Study(runs=Path(tmp))
        t0 = time.perf_counter()
        results = study.run("smoke", force=True)
        t_run = time.perf_counter() - t0
        build_book("smoke", study=study, source=study.run_dir("smoke") / "notebooks")
        t_all = time.perf_counter() - t0
    out = {f"notebook {name} (s)": dt for name, _, dt in results}
    out.update({"notebooks (s)": t_run, "notebooks + book (s)": t_all})
    return out


def main(n_images: int = 200, run_main_job: bool = True) -> None:
    print(f"machine: {os.cpu_count()} CPU cores")
    c = cohort_throughput(n_images)
    print(f"cohort generation: {c['images']} images at 512x512 in {c['seconds']:.1f} s "
          f"= {c['images_per_s']:.1f} images/s (target: 200 images in < 30 s)")
    for k, v in control_set_throughput().items():
        print(f"control maps at 512x512, {k}: {v:.1f}" if isinstance(v, float) else f"control maps: {k} = {v}")
    print("(target: >= 50 images/s for the radiomics maps plus the HVA map)")
    r = radcn_training_cpu()
    print(f"Rad-CN training on CPU at smoke size (64x64, batch 4, {r['params_m']:.2f} M ControlNet parameters): "
          f"{r['steps_per_s']:.2f} steps/s, peak RSS {r['peak_rss_mib']:.0f} MiB (whole process, including checkpoints)")
    if run_main_job:
        for k, v in smoke_main_job().items():
            print(f"smoke main job, {k}: {v:.1f}")
        print("(target: the whole smoke main job under 10 minutes once all notebooks exist)")


#: Stable Diffusion v1.5's U-Net, VAE and CLIP ViT-L/14 text-encoder configurations (random weights).
SD15 = {
    "unet": dict(sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768, attention_head_dim=8),
    "vae": dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512),
    "text": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
}


def _parts(size: str, tokenizer_dir: str, resolution: int):
    """SD parts: "sd15" (v1.5 sizes, random weights) or a ``models.SIZES`` key."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from radgazegen.models import MAX_TOKENS, SDParts, clip_tokenizer, sd_parts

    if size != "sd15":
        return sd_parts(size, tokenizer_dir, resolution=resolution)
    tok = clip_tokenizer(tokenizer_dir)
    return SDParts(tok, CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), max_position_embeddings=MAX_TOKENS, **SD15["text"])),
                   AutoencoderKL(**SD15["vae"]), UNet2DConditionModel(**SD15["unet"]),
                   DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012), "sd15 (random weights)")


def controlnet_step_benchmark(size: str = "sd15", resolution: int = 512, batch: int = 4, steps: int = 20,
                              mixed_precision: str = "bf16", device: str | None = None) -> dict[str, float]:
    """ControlNet training: our loop (``training.train``) against the same step written as in
    diffusers' ``examples/controlnet/train_controlnet.py``; steps/s, images/s, peak GPU memory.

    Our loop's per-step time is (time of 2N steps - time of N steps) / N, which removes its
    fixed costs (weight fingerprint, final save), after a 2-step warm-up run: without it the
    first run carries the GPU's warm-up and the difference came out negative (H200, 2026-11-27).
    """
    import tempfile

    import numpy as np
    import torch
    import torch.nn.functional as F
    from radgazegen.models.training import accelerator

    from radgazegen.models import new_controlnet
    from radgazegen.models.training import Batch, TrainConfig, train
    from radgazegen.core.vocabulary import CANNY

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.startswith("cuda")
    rng = np.random.default_rng(0)
    px = torch.from_numpy(rng.uniform(-1, 1, (2 * batch, 3, resolution, resolution)).astype(np.float32))
    cond = torch.from_numpy(rng.uniform(0, 1, (2 * batch, 3, resolution, resolution)).astype(np.float32))
    data = lambda idx: Batch(px[idx], ["right pleural effusion"] * len(idx), {CANNY: cond[idx]})  # noqa: E731
    out = {"size": size, "resolution": resolution, "batch": batch, "device": device, "mixed_precision": mixed_precision}
    with tempfile.TemporaryDirectory() as tmp:
        parts = _parts(size, tmp + "/tok", resolution)
        times = []
        for n in (2, steps, 2 * steps):  # a 2-step warm-up first (CUDA context, cuDNN's kernel choice), then N and 2N
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            train(parts, data, 2 * batch, TrainConfig(max_steps=n, batch_size=batch, checkpoint_every=0,
                                                       mixed_precision=mixed_precision if cuda else "no"),
                  f"{tmp}/ours{n}", controlnet=new_controlnet(parts), control_name=CANNY, progress=False)
            times.append(time.perf_counter() - t0)
        out["ours: steps/s"] = steps / (times[2] - times[1])
        if cuda:
            out["ours: peak GPU memory (GiB)"] = torch.cuda.max_memory_allocated() / 2 ** 30
            torch.cuda.reset_peak_memory_stats()
        # the diffusers example's step
        acc = accelerator(mixed_precision if cuda else "no")
        wdtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(acc.mixed_precision, torch.float32)
        controlnet = new_controlnet(parts).train()
        opt = torch.optim.AdamW(controlnet.parameters(), lr=1e-5)
        controlnet, opt = acc.prepare(controlnet, opt)
        for m in (parts.vae, parts.unet, parts.text_encoder):
            m.requires_grad_(False).to(acc.device, dtype=wdtype)
        ids = parts.tokenizer(["right pleural effusion"] * batch, padding="max_length", max_length=77, truncation=True,
                              return_tensors="pt").input_ids.to(acc.device)

        def example_step():
            latents = parts.vae.encode(px[:batch].to(acc.device, wdtype)).latent_dist.sample() * parts.vae.config.scaling_factor
            noise = torch.randn_like(latents)
            t = torch.randint(0, 1000, (batch,), device=acc.device).long()
            noisy = parts.scheduler.add_noise(latents.float(), noise.float(), t).to(wdtype)
            hidden = parts.text_encoder(ids, return_dict=False)[0]
            with acc.autocast():
                down, mid = controlnet(noisy, t, encoder_hidden_states=hidden,
                                       controlnet_cond=cond[:batch].to(acc.device, wdtype), return_dict=False)
                pred = parts.unet(noisy, t, encoder_hidden_states=hidden,
                                  down_block_additional_residuals=[s.to(wdtype) for s in down],
                                  mid_block_additional_residual=mid.to(wdtype), return_dict=False)[0]
            loss = F.mse_loss(pred.float(), noise.float(), reduction="mean")
            acc.backward(loss)
            acc.clip_grad_norm_(controlnet.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        example_step()
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:  # the model FLOPs of one step (forward + backward)
            example_step()
        out["model FLOPs per step (TFLOP)"] = counter.get_total_flops() / 1e12
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            example_step()
        if cuda:
            torch.cuda.synchronize()
        out["diffusers example: steps/s"] = steps / (time.perf_counter() - t0)
        if cuda:
            out["diffusers example: peak GPU memory (GiB)"] = torch.cuda.max_memory_allocated() / 2 ** 30
    out["ours: images/s"] = out["ours: steps/s"] * batch
    out["diffusers example: images/s"] = out["diffusers example: steps/s"] * batch
    out["ratio ours / example (steps/s)"] = out["ours: steps/s"] / out["diffusers example: steps/s"]
    peak = peak_bf16_flops(device)
    if peak:  # model FLOP utilisation: model FLOPs per second over the chip's dense bf16 peak
        for who in ("ours", "diffusers example"):
            out[f"{who}: MFU"] = out["model FLOPs per step (TFLOP)"] * 1e12 * out[f"{who}: steps/s"] / peak
    return out


#: Dense bf16 tensor-core peaks (FLOP/s) by GPU name, from NVIDIA's data sheets (SXM parts).
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def peak_bf16_flops(device: str) -> float | None:
    """The dense bf16 peak of ``device``'s GPU (``PEAK_BF16``), None on a CPU or another GPU."""
    import torch

    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def two_controlnet_generation_benchmark(size: str = "sd15", resolution: int = 512, n_images: int = 8, steps: int = 20,
                                        device: str | None = None) -> dict[str, float]:
    """Images/s generating with two ControlNets: ``generation.generate`` against a direct call of the
    stock ``StableDiffusionControlNetPipeline`` on the same batch (fp16 on GPU, fp32 on CPU).

    ``generate`` drives that same stock pipeline (one generator per image), so the ratio
    measures our wrapper's cost, not a speed-up: the study adds no faster sampler of its own."""
    import tempfile

    import torch

    from radgazegen.generation import Sampler, generate
    from radgazegen.models import new_controlnet

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    prompts = ["right pleural effusion"] * n_images
    controls = [torch.rand(n_images, 3, resolution, resolution, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    with tempfile.TemporaryDirectory() as tmp:
        parts = _parts(size, tmp + "/tok", resolution)  # in memory: no 4 GB save and reload at SD v1.5 size
        pipe = Sampler(parts, "unipc", device, dtype).pipeline(controlnets=[new_controlnet(parts), new_controlnet(parts)])
        pipe.controlnet.to(device, dtype)
        def stock(n_steps):
            return pipe(prompts, image=[c.to(device, dtype) for c in controls], num_inference_steps=n_steps,
                        height=resolution, width=resolution, controlnet_conditioning_scale=[1.0, 1.0], output_type="np",
                        generator=[torch.Generator().manual_seed(i) for i in range(n_images)])

        # warm-up at the timed batch shape for both (cuDNN picks its kernels per shape)
        generate(pipe, prompts, controls, scales=[1.0, 1.0], steps=2, seeds=list(range(n_images)),
                 resolution=resolution, batch_size=n_images)
        stock(2)
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        t0 = time.perf_counter()
        generate(pipe, prompts, controls, scales=[1.0, 1.0], steps=steps, seeds=list(range(n_images)),
                 resolution=resolution, batch_size=n_images)
        sync()
        ours = n_images / (time.perf_counter() - t0)
        sync()
        t0 = time.perf_counter()
        stock(steps)
        sync()
        stock_rate = n_images / (time.perf_counter() - t0)
    return {"size": size, "device": device, "steps": steps, "ours: images/s": ours, "stock pipeline: images/s": stock_rate,
            "ratio ours / stock": ours / stock_rate}


def gpu_main(sections: tuple[str, ...] = ("sd15", "teach")) -> None:
    """``python -m radgazegen bench --gpu``: the SD v1.5-size ControlNet benchmarks and the same
    two measurements at the teach profile's size (small parts, 128x128, batch 128), which size
    that profile's training steps and generation batches (needs a GPU). A failing section is
    reported in one line and the next one still runs."""
    import torch

    if not torch.cuda.is_available():
        print("no GPU: the SD v1.5-size benchmarks need one (python -m radgazegen bench --gpu on a GPU machine)")
        return
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}", flush=True)
    runs = {
        "sd15": [("ControlNet training, SD v1.5 size, 512x512, batch 4, bf16", lambda: controlnet_step_benchmark()),
                 ("generation with two ControlNets, SD v1.5 size, 512x512, 8 images, fp16",
                  lambda: two_controlnet_generation_benchmark())],
        "teach": [("ControlNet training, teach size, 128x128, batch 128, bf16",
                   lambda: controlnet_step_benchmark(size="small", resolution=128, batch=128, steps=20)),
                  ("generation with two ControlNets, teach size, 128x128, 128 images, fp16",
                   lambda: two_controlnet_generation_benchmark(size="small", resolution=128, n_images=128, steps=20))],
    }
    for section in sections:
        for title, bench in runs[section]:
            t0 = time.perf_counter()
            try:
                figures = bench()
            except Exception as exc:  # noqa: BLE001 - a benchmark that fails is reported, not fatal
                print(f"{title}: failed: {type(exc).__name__}: {exc}", flush=True)
                continue
            for k, v in figures.items():
                print(f"{title}: {k} = {v:.3f}" if isinstance(v, float) else f"{title}: {k}: {v}", flush=True)
            print(f"{title}: benchmark wall time = {time.perf_counter() - t0:.1f} s", flush=True)
