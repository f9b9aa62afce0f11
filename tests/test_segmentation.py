"""Lung masks: the U-Net of [70], the weight-free method, Dice."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from radgazegen.synthetic import render_phantom
from radgazegen.controls.segmentation import (
    LungUNet, classical_lung_mask, dice, load_lung_unet, split_lungs, unet_lung_mask,
)


def test_lung_unet_takes_1x1x512x512_and_returns_2_channels():
    model = LungUNet().eval()
    with torch.no_grad():
        out = model(torch.rand(1, 1, 512, 512))
    assert out.shape == (1, 2, 512, 512)


def test_lung_unet_weights_round_trip_and_missing_file(tmp_path):
    torch.manual_seed(0)
    model = LungUNet().eval()
    torch.save(model.state_dict(), tmp_path / "unet-6v.pt")
    loaded = load_lung_unet(tmp_path)  # a directory holding unet-6v.pt
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x))
    mask = unet_lung_mask(loaded, (np.random.default_rng(0).random((96, 80)) * 255).astype(np.uint8), size=64)
    assert mask.shape == (96, 80) and set(np.unique(mask)) <= {0, 1, 2}
    with pytest.raises(FileNotFoundError, match=r"nowhere/unet-6v\.pt: lung U-Net weights not found"):
        load_lung_unet(tmp_path / "nowhere" / "unet-6v.pt")
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not LungUNet weights"):
        load_lung_unet(tmp_path / "other.pt")


def test_classical_mask_finds_two_plausible_lungs_on_phantoms():
    scores = []
    for seed in range(5):
        p = render_phantom(["No Finding"], np.random.default_rng(seed), (256, 256))
        mask = classical_lung_mask(p.image)
        assert set(np.unique(mask)) == {0, 1, 2}
        scores.append(dice(mask, p.lung_mask))
        # right lung (label 1) on the image's left
        assert np.nonzero(mask == 1)[1].mean() < np.nonzero(mask == 2)[1].mean()
    assert np.mean(scores) > 0.8, scores


def test_split_lungs_and_dice_known_answers():
    m = np.zeros((10, 10), bool)
    m[2:8, 1:4] = m[2:8, 6:9] = True
    labels = split_lungs(m)
    assert (labels[2:8, 1:4] == 1).all() and (labels[2:8, 6:9] == 2).all()
    assert dice(m, m) == 1.0 and dice(m, ~m) == 0.0 and dice(np.zeros(3), np.zeros(3)) == 1.0
    shifted = np.roll(m, 1, axis=0)
    assert dice(m, shifted) == pytest.approx(2 * 30 / 72)


def test_the_segmentation_control_prefers_the_papers_segmenter(tmp_path):
    import torch

    from radgazegen.controls.segmentation import LungUNet, classical_lung_mask, lung_segmenter

    name, fn = lung_segmenter()
    assert fn is classical_lung_mask and "stand-in" in name
    torch.save(LungUNet().state_dict(), tmp_path / "unet-6v.pt")
    name, fn = lung_segmenter(tmp_path / "unet-6v.pt", pspnet_cache_dir=tmp_path)
    assert name == "lung U-Net of ref. [70]"
    mask = fn(np.full((96, 80), 120, np.uint8))
    assert mask.shape == (96, 80) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1, 2}
    with pytest.raises(FileNotFoundError, match="PSPNet weights not found"):
        lung_segmenter("", pspnet_cache_dir=tmp_path)
