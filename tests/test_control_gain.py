"""A ControlNet's held-out loss with its control and without (``models.control_gain``): zero before
training (zero convolutions), clearly above zero once it has learned to use a control that tells
where the image's blob is."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from radgazegen.models import new_controlnet, sd_parts
from radgazegen.models.control_gain import control_gain, heldout_losses
from radgazegen.models.training import Batch, TrainConfig, train

R = 32  # pixels


def blobs(n: int, seed: int):
    """``n`` images (B, 3, R, R) in [-1, 1] with a bright disc in one of the four quadrants, and its
    mask (B, 3, R, R) in [0, 1] as the control: the control says where the finding is."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:R, 0:R]
    q = rng.integers(0, 4, n)
    cy, cx = (q // 2) * 16 + 8 + rng.integers(-2, 3, n), (q % 2) * 16 + 8 + rng.integers(-2, 3, n)
    mask = ((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2 <= 25).astype(np.float32)
    images = torch.from_numpy(np.repeat((-0.6 + 1.4 * mask)[:, None], 3, 1))
    controls = torch.from_numpy(np.repeat(mask[:, None], 3, 1))

    class Data:
        def __len__(self):
            return n

        def __call__(self, idx):
            return Batch(images[idx], ["opacity"] * len(idx), {"gaze": controls[idx]}, [f"{seed}-{i}" for i in idx])
    return Data()


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    torch.manual_seed(0)
    return sd_parts("tiny", tmp_path_factory.mktemp("tokenizer"), resolution=R)


def test_a_fresh_controlnet_gains_exactly_nothing(parts):
    torch.manual_seed(0)
    losses = heldout_losses(parts, new_controlnet(parts), blobs(6, seed=1), "gaze", n_timesteps=2)
    assert list(losses.columns) == ["item", "with control", "control off"] and len(losses) == 6
    assert np.array_equal(losses["with control"], losses["control off"])  # zero convolutions: the frozen model
    gain = control_gain(losses)
    assert gain["gain"] == 0 and gain["low"] == 0 == gain["high"] and gain["n items"] == 6


@pytest.mark.slow  # 60 training steps: about 20 s here
def test_a_controlnet_learns_to_use_its_control_within_60_steps(parts, tmp_path):
    """At the learning rate the lesson and teach profiles use (3e-4), 60 steps of batch 16 (measured:
    gain 0.064 [0.062, 0.065] at 20 steps, 0.233 [0.226, 0.238] at 60; exactly 0 at step 0)."""
    torch.manual_seed(0)
    cn = new_controlnet(parts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(parts, blobs(64, seed=0), 64, TrainConfig(max_steps=60, batch_size=16, lr=3e-4, checkpoint_every=0,
                                                        cache_encodings=True), tmp_path / "cn", controlnet=cn,
              control_name="gaze", progress=False)
    gain = control_gain(heldout_losses(parts, cn, blobs(24, seed=1), "gaze", n_timesteps=4))
    assert gain["low"] > 0.1, gain  # the control removes over a tenth of the frozen model's error
    assert gain["loss with control"] < gain["loss off"]
