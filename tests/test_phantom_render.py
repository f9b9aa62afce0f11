"""Phantom radiographs: determinism, every finding drawn where its ground truth says."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from radgazegen.core.labels import MIMIC_LT_CLASSES, UnknownLabelError
from radgazegen.synthetic import render_phantom

ABNORMAL = [c for c in MIMIC_LT_CLASSES if c != "No Finding"]


def test_same_seed_same_image_other_seed_other_image():
    a = render_phantom(["Pneumothorax"], np.random.default_rng(1))
    b = render_phantom(["Pneumothorax"], np.random.default_rng(1))
    c = render_phantom(["Pneumothorax"], np.random.default_rng(2))
    assert a.image.dtype == np.uint8 and a.image.shape == (512, 512)
    assert np.array_equal(a.image, b.image) and not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("label", ABNORMAL)
def test_every_finding_changes_the_pixels_inside_its_mask(label):
    seed = 11
    normal = render_phantom(["No Finding"], np.random.default_rng(seed), (256, 256))
    sick = render_phantom([label], np.random.default_rng(seed), (256, 256))
    (f,) = sick.findings
    assert f.label == label and f.mask.any() and f.side in ("right", "left", "bilateral", "midline")
    ys, xs = np.nonzero(f.mask)
    assert f.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert 0 <= f.box[0] < f.box[2] <= 256 and 0 <= f.box[1] < f.box[3] <= 256
    diff = np.abs(sick.image.astype(float) - normal.image.astype(float))
    if label in ("Cardiomegaly", "Enlarged Cardiomediastinum"):
        # these change the anatomy itself: the silhouette grows
        key = "heart" if label == "Cardiomegaly" else "mediastinum"
        assert sick.anatomy[key].sum() > 1.2 * normal.anatomy[key].sum()
    else:
        around = ndimage.binary_dilation(f.mask, iterations=6)
        assert diff[f.mask].mean() > 4 and diff[f.mask].mean() > 3 * max(diff[~around].mean(), 0.3)


def test_sides_are_the_patients():
    """A right-sided finding lies on the image's left half (PA view), a left-sided one on the right."""
    for seed in range(6):
        p = render_phantom(["Lung Lesion"], np.random.default_rng(seed), (256, 256))
        (f,) = p.findings
        cx = (f.box[0] + f.box[2]) / 2
        assert (cx < 128) == (f.side == "right"), (seed, f.side, f.box)


def test_lungs_two_fields_right_lung_on_the_image_left():
    p = render_phantom(["No Finding"], np.random.default_rng(0), (384, 448))
    assert p.image.shape == (448, 384)
    mask = p.lung_mask
    assert set(np.unique(mask)) == {0, 1, 2}
    for value in (1, 2):
        _, n = ndimage.label(mask == value)
        assert n == 1
    right_x = np.nonzero(mask == 1)[1].mean()
    left_x = np.nonzero(mask == 2)[1].mean()
    heart_x = np.nonzero(p.anatomy["heart"])[1].mean()
    assert right_x < heart_x < left_x
    # aerated lung is darker than the heart
    assert p.image[mask > 0].mean() + 30 < p.image[p.anatomy["heart"]].mean()


def test_several_findings_in_one_image():
    p = render_phantom(["Cardiomegaly", "Pleural Effusion", "Support Devices"], np.random.default_rng(5))
    assert [f.label for f in p.findings] == ["Cardiomegaly", "Pleural Effusion", "Support Devices"]
    masks = [f.mask for f in p.findings]
    assert all(m.any() and m.shape == masks[0].shape for m in masks)  # each finding drawn, on the same image
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])  # three findings, not one
    for f in p.findings:  # each box is its own mask's bounding box (exclusive max)
        ys, xs = np.nonzero(f.mask)
        assert f.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), (f.label, f.box)


def test_bad_input_is_named():
    with pytest.raises(UnknownLabelError, match="Pneumonitis"):
        render_phantom(["Pneumonitis"], np.random.default_rng(0))
    with pytest.raises(ValueError, match="size"):
        render_phantom([], np.random.default_rng(0), (512.0, 512))
    with pytest.raises(ValueError, match="size"):
        render_phantom([], np.random.default_rng(0), (32, 512))


@pytest.mark.parametrize("size", [(128, 128), (96, 160)])
def test_every_label_renders_for_many_seeds(size):
    """Placement never misses: each finding has a non-empty mask whatever the anatomy."""
    for seed in range(15):
        for label in ABNORMAL:
            (f,) = render_phantom([label], np.random.default_rng(seed), size).findings
            assert f.mask.any(), (label, seed, size)
