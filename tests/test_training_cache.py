"""CPU speed (issue 14): the frozen encoders' outputs cached once per image and prompt, and the
training items kept in memory, give the losses and batches of the uncached path."""
from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch

from radgazegen import models
from radgazegen.models import training, training_data, objective


class Acc:
    device, mixed_precision = torch.device("cpu"), "no"

    @staticmethod
    def autocast():
        import contextlib

        return contextlib.nullcontext()


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    torch.manual_seed(0)
    return models.sd_parts("tiny", tmp_path_factory.mktemp("tok"), resolution=32)


def test_cached_encodings_give_the_uncached_loss_and_encode_each_image_and_prompt_once(parts, monkeypatch):
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.uniform(-1, 1, (4, 3, 32, 32)).astype(np.float32))
    prompts = ["a nodule", "an effusion", "a nodule", "edema"]
    batch = training.Batch(images, prompts, {}, keys=["a", "b", "c", "d"])
    plain = objective.NoiseObjective(parts, Acc(), "unet", [], [])
    cached = objective.NoiseObjective(parts, Acc(), "unet", [], [], cache=True)
    with torch.no_grad():
        a = plain(parts.unet, batch, torch.Generator().manual_seed(3))
        b = cached(parts.unet, batch, torch.Generator().manual_seed(3))
    assert float(b) == pytest.approx(float(a), rel=1e-4)
    calls = []
    real = parts.vae.encode
    monkeypatch.setattr(parts.vae, "encode", lambda x: calls.append(len(x)) or real(x))
    with torch.no_grad():
        c = cached(parts.unet, batch, torch.Generator().manual_seed(3))
    assert calls == [] and float(c) == float(b)  # nothing encoded again: the same loss, bit for bit
    assert len(cached._posteriors) == 4 and len(cached._states) == 3  # "a nodule" encoded once


def test_items_kept_in_memory_give_the_same_batch(tmp_path):
    rng = np.random.default_rng(1)
    items = []
    for i in range(3):
        img, ctrl = (rng.uniform(0, 255, (48, 48)).astype(np.uint8) for _ in range(2))
        cv2.imwrite(str(tmp_path / f"{i}.png"), img)
        cv2.imwrite(str(tmp_path / f"{i}-canny.png"), ctrl)
        items.append(training_data.Item(f"d{i}", tmp_path / f"{i}.png", f"prompt {i}", {"canny": tmp_path / f"{i}-canny.png"}))
    disk = training_data.ControlDataset(items, 32, controls=["canny"])
    memory = training_data.ControlDataset(items, 32, controls=["canny"], in_memory=True)
    for idx in ([0, 2], [2, 1, 1]):
        a, b = disk(np.array(idx)), memory(np.array(idx))
        assert torch.equal(a.pixel_values, b.pixel_values) and torch.equal(a.conditioning["canny"], b.conditioning["canny"])
        assert a.prompts == b.prompts and a.keys == b.keys and len(set(b.keys)) == len(set(idx))
    (tmp_path / "0.png").unlink()
    memory(np.array([0]))  # read once, kept: the file is no longer needed
    with pytest.raises(FileNotFoundError):
        disk(np.array([0]))
