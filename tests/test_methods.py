"""The method registry, the sampler that loads SD-CXR once, and the shared conditioning builder."""
from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch

from radgazegen.generation import methods
from radgazegen.core.vocabulary import CANNY, CONTROLS, GL, HVA, RADIOMICS_CONTROLS, SEGMENTATION, SOBEL, UNIFIED


def _models_json(design: str):
    keys = {k: f"/m/{k}" for c in CONTROLS for k in (methods.controlnet_key(c), methods.adapter_key(c))}
    if design == "unified":
        rad_cn = {"design": design, "controlnets": ["/m/rad-cn"], "controls": [UNIFIED]}
    else:
        rad_cn = {"design": design, "controlnets": [keys[methods.controlnet_key(c)] for c in RADIOMICS_CONTROLS],
                  "controls": list(RADIOMICS_CONTROLS)}
    rad = {"rad-cn": rad_cn, "models": {k: v for k, v in keys.items() if not k.endswith(HVA)}}
    hva = {"hva-cn": "/m/hva-cn", "models": {k: v for k, v in keys.items() if k.endswith(HVA)}}
    return rad, hva


def test_registry_has_one_name_per_method_and_the_papers_labels_as_attributes():
    rad, hva = _models_json("unified")
    reg = methods.build(rad, hva, rad_cn_scale=0.5, hva_cn_scale=0.1, control_scale=0.7)
    assert list(reg)[:3] == ["SD", "ControlNet (canny)", "T2I-Adapter (canny)"] and list(reg)[-2] == "RadGazeGen"
    assert len(reg) == 25 and set(reg) | {"RoentGen"} == set(methods.catalogue())
    authors = reg[list(reg)[-1]]  # last: RadGazeGen at the authors' released scales and negative prompt
    assert authors.name == methods.AUTHORS_SAMPLER and authors.scales == (0.1, 0.001) and authors.models == ("rad-cn", "hva-cn")
    assert authors.negative_prompt.startswith("monochrome") and authors.family not in methods.FAMILIES and not authors.paper_row
    assert reg.find(methods.RADGAZEGEN, CONTROLS) is reg[methods.RADGAZEGEN]  # the family's lookups are unchanged
    assert methods.AUTHORS_SAMPLER not in methods.build(rad, hva, rad_cn_scale=0.1, hva_cn_scale=0.001)  # full: it is RadGazeGen
    cn, mcn = reg.single(methods.SINGLE_CONTROLNET, CANNY), reg.find(methods.MULTI_CONTROLNET, (SEGMENTATION, CANNY))
    assert (cn.paper_row, mcn.paper_row) == ("ControlNet (Canny)", "MultiControlNet (Canny+Seg)")  # Table 4's labels
    assert cn.kind == methods.CONTROLNET and cn.scales == (0.7,) and cn.model_dirs == ("/m/controlnet-canny",)
    assert reg.single(methods.T2I_ADAPTER, CANNY).paper_row == "T2I-Adapter"  # Table 3's label
    rg = reg[methods.RADGAZEGEN]
    assert rg.inputs == (UNIFIED, HVA) and rg.scales == (0.5, 0.1) and rg.models == ("rad-cn", "hva-cn") and rg.uses_gaze
    gl = reg.find(methods.RADGAZEGEN, (GL, HVA))
    assert gl.name == "RadGazeGen (gl + hva)" and gl.inputs == ("unified:gl", HVA) and gl.paper_row == "GL+HVA-CN"
    assert not reg[methods.RAD_CN].uses_gaze and reg[methods.HVA_CN].controls == (HVA,)
    assert reg[methods.MULTI_CONTROLNET].controls == CONTROLS and reg.get("ControlNet (Canny)") is None
    assert methods.Registry.from_json(reg.to_json()) == reg  # methods.json round trip, typed
    assert reg.to_json()["Multi-ControlNet (canny + hva)"]["folder"] == "multi-controlnet-canny-hva"
    per_map = methods.build(*_models_json("per-map"))
    sobel = per_map.find(methods.RADGAZEGEN, (SOBEL, HVA))
    assert sobel.inputs == (SOBEL, HVA) and sobel.models == ("controlnet-sobel", "hva-cn")  # Eq. 6: maps dropped
    with pytest.raises(ValueError, match="needs HVA-CN"):
        methods.eq6(rad, None, [CANNY, HVA])


def test_paper_rows_map_every_paper_row_to_ours():
    from radgazegen.metrics.evaluation import paper_rows

    assert paper_rows("table1")["MultiControl"] == "Multi-ControlNet"
    assert paper_rows("table3") == {"Original*": "Original*", "SD": "SD", "T2I-Adapter": "T2I-Adapter (canny)",
                                    "RadGazeGen": "RadGazeGen"}
    assert paper_rows("table4")["MultiControlNet (Canny+Seg)"] == "Multi-ControlNet (canny + segmentation)"
    assert paper_rows("table5")["Segmentation+HVA-CN"] == "RadGazeGen (segmentation + hva)"


def test_conditioning_builder_is_the_datasets(tmp_path):
    from radgazegen.models.training_data import ControlDataset, Item, conditioning, read_control

    rng = np.random.default_rng(0)
    items = []
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"x{i}.png"), rng.integers(0, 255, (40, 40), dtype=np.uint8))
        paths = {}
        for c in CONTROLS:
            m = rng.integers(0, 3, (48, 48), dtype=np.uint8) if c == SEGMENTATION else rng.integers(0, 255, (48, 48), dtype=np.uint8)
            cv2.imwrite(str(tmp_path / f"{c}{i}.png"), m)
            paths[c] = tmp_path / f"{c}{i}.png"
        items.append(Item(f"d{i}", tmp_path / f"x{i}.png", "effusion", paths))
    batch = ControlDataset(items, 16, controls=CONTROLS)(np.arange(2))
    cond = conditioning({c: np.stack([read_control(c, it.controls[c]) for it in items]) for c in CONTROLS}, 16)
    assert set(cond) == set(batch.conditioning) == {*CONTROLS, UNIFIED}
    assert all(torch.equal(cond[k], batch.conditioning[k]) for k in cond) and cond[UNIFIED].shape == (2, 4, 16, 16)
    assert set(np.unique(cond[SEGMENTATION].numpy() * 255).round()) <= {0.0, 127.0, 254.0}


def test_sampler_loads_sd_cxr_once_and_equals_the_stock_pipelines(tmp_path):
    from diffusers import (
        ControlNetModel, StableDiffusionAdapterPipeline, StableDiffusionControlNetPipeline, StableDiffusionPipeline,
        T2IAdapter, UniPCMultistepScheduler,
    )

    from radgazegen.generation import Sampler
    from radgazegen.models import new_adapter, new_controlnet, save_sd_parts, sd_parts

    torch.manual_seed(0)
    parts = sd_parts("tiny", tmp_path / "tok", resolution=32)
    save_sd_parts(parts, tmp_path / "sd")
    assert (tmp_path / "sd" / "tokenizer" / "tokenizer_config.json").is_file() and (tmp_path / "sd" / "model_index.json").is_file()
    for name, model in (("cn-canny", new_controlnet(parts)), ("cn-hva", new_controlnet(parts)), ("ad", new_adapter(parts))):
        with torch.no_grad():  # non-zero residuals, so the controls matter
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        model.save_pretrained(str(tmp_path / name))
    two = methods.Method("two", methods.CONTROLNET, methods.MULTI_CONTROLNET, (CANNY, HVA), ("a", "b"),
                         (str(tmp_path / "cn-canny"), str(tmp_path / "cn-hva")), (CANNY, HVA), (1.0, 0.8))
    adapter = methods.Method("ad", methods.ADAPTER, methods.T2I_ADAPTER, (CANNY,), ("c",), (str(tmp_path / "ad"),), (CANNY,), (0.9,))
    text = methods.Method("text", methods.TEXT, methods.SD)
    cond = {c: torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(i)) for i, c in enumerate((CANNY, HVA))}
    kw = dict(steps=3, seeds=[7, 8], resolution=32)
    sampler = Sampler(tmp_path / "sd")
    assert sampler.base.tokenizer("a small effusion")["input_ids"] == parts.tokenizer("a small effusion")["input_ids"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = {m.name: sampler.sample(m, ["effusion", "edema"], cond, **kw) for m in (two, adapter, text, two)}
        stock_kw = dict(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        stocks = {
            "two": (StableDiffusionControlNetPipeline.from_pretrained(
                str(tmp_path / "sd"), controlnet=[ControlNetModel.from_pretrained(str(tmp_path / d)) for d in ("cn-canny", "cn-hva")],
                **stock_kw), dict(image=[cond[CANNY], cond[HVA]], controlnet_conditioning_scale=[1.0, 0.8])),
            "ad": (StableDiffusionAdapterPipeline.from_pretrained(
                str(tmp_path / "sd"), adapter=T2IAdapter.from_pretrained(str(tmp_path / "ad")), **stock_kw),
                dict(image=cond[CANNY], adapter_conditioning_scale=0.9)),
            "text": (StableDiffusionPipeline.from_pretrained(str(tmp_path / "sd"), **stock_kw), {}),
        }
        for name, (stock, extra) in stocks.items():
            stock.scheduler = UniPCMultistepScheduler.from_config(stock.scheduler.config)
            ref = stock(["effusion", "edema"], num_inference_steps=3, height=32, width=32, output_type="np",
                        generator=[torch.Generator().manual_seed(s) for s in (7, 8)], **extra).images
            ref = np.clip(ref.mean(axis=-1) * 255, 0, 255).round().astype(np.uint8)
            assert np.array_equal(ours[name], ref), name
    assert len(sampler._loaded) == 3  # each ControlNet and the adapter loaded once, the second "two" reused them
    pipe = sampler.method_pipeline(two)
    assert pipe.unet is sampler.base.unet and pipe.vae is sampler.base.vae  # SD-CXR shared, not reloaded
    assert pipe.scheduler is not sampler.method_pipeline(two).scheduler  # a fresh scheduler per pipeline
    with pytest.raises(ValueError, match="no model folders"):
        sampler.sample(methods.catalogue()[methods.RADGAZEGEN], ["x"], cond)
