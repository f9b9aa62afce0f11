"""Gaze-guided hypotheses (§3.2.2) on known answers; feature extractors; gaze helpers."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from radgazegen import gaze, hypotheses
from radgazegen.data import Record
from radgazegen.split import gaze_readings


class PixelFeatures:
    """Features = the image downsampled to 16x16, flattened (a transparent stand-in)."""
    name = "pixels"

    def __call__(self, images):
        return np.stack([im.reshape(16, im.shape[0] // 16, 16, im.shape[1] // 16).mean(axis=(1, 3)).ravel()
                         for im in images]).astype(np.float32)


def blob_image(x0, y0, n=64, value=220):
    im = np.full((n, n), 40, np.uint8)
    im[y0:y0 + 12, x0:x0 + 12] = value
    return im


def test_apply_mask_is_a_bitwise_and():
    images = np.stack([np.full((8, 8), 200, np.uint8), np.arange(64, dtype=np.uint8).reshape(8, 8)])
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 3:6] = 255
    out = hypotheses.apply_mask(images, mask)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert (out[:, 2:5, 3:6] == images[:, 2:5, 3:6]).all() and out.sum() == images[:, 2:5, 3:6].astype(int).sum()
    with pytest.raises(ValueError, match="shape"):
        hypotheses.apply_mask(images, np.ones((4, 4), np.uint8))


def test_selection_prefers_the_image_whose_finding_lies_under_the_gaze():
    mask = np.zeros((64, 64), np.uint8)
    mask[8:32, 8:32] = 255
    bag = np.stack([blob_image(40, 40), blob_image(12, 12), blob_image(44, 8)])
    sel = hypotheses.select_hypothesis("Lung Lesion", mask, ["a", "b", "c"], bag, PixelFeatures())
    assert sel.selected == "b" and sel.best == 1 and sel.extractor == "pixels"
    assert sel.scores.shape == (3,) and np.all(sel.scores <= 1 + 1e-6)
    assert sel.scores[1] > max(sel.scores[0], sel.scores[2])
    with pytest.raises(ValueError, match="Lung Lesion: the bag"):
        hypotheses.select_hypothesis("Lung Lesion", mask, [], bag[:0], PixelFeatures())
    with pytest.raises(ValueError, match="gaze mask is empty"):
        hypotheses.select_hypothesis("Lung Lesion", np.zeros_like(mask), ["a"], bag[:1], PixelFeatures())


def test_cosine_scores_known_values():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[0.0, 2.0], [2.0, 2.0]])
    assert np.allclose(hypotheses.cosine_scores(a, b), [0.0, 1.0], atol=1e-6)


def test_study_encoder_trains_deterministically_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (12, 64, 64), dtype=np.uint8)
    targets = np.eye(3, dtype=np.float32)[np.arange(12) % 3]
    m1, l1 = hypotheses.train_study_encoder(images, targets, epochs=2, batch_size=4, size=32, width=4, progress=False)
    m2, l2 = hypotheses.train_study_encoder(images, targets, epochs=2, batch_size=4, size=32, width=4, progress=False)
    assert l1 == l2 and len(l1) == 2
    m1.save(tmp_path / "enc")
    loaded = hypotheses.StudyEncoder.load(tmp_path / "enc")
    f1, f2 = hypotheses.StudyFeatures(m1)(images), hypotheses.StudyFeatures(loaded)(images)
    assert f1.shape == (12, 32) and np.allclose(f1, f2)
    with pytest.raises(FileNotFoundError, match="config.json"):
        hypotheses.StudyEncoder.load(tmp_path / "nothing")


def test_xrv_features_from_a_local_folder_only(tmp_path):
    import torchxrayvision as xrv

    with pytest.raises(FileNotFoundError, match="not downloaded"):
        hypotheses.XRVFeatures(tmp_path)
    # a file the project makes itself, with TorchXRayVision's architecture and file name
    fname = xrv.models.model_urls[hypotheses.XRV_WEIGHTS]["weights_url"].rsplit("/", 1)[1]
    torch.manual_seed(0)
    torch.save(xrv.models.DenseNet(weights=None), tmp_path / fname)
    feats = hypotheses.XRVFeatures(tmp_path)(np.random.default_rng(0).integers(0, 255, (2, 300, 300), dtype=np.uint8))
    assert feats.shape == (2, 1024) and feats.dtype == np.float32 and np.isfinite(feats).all()


def reading(fix, words, report):
    return Record(source="reflacx", dicom_id="d1", image_path="x.jpg", image_size=(100, 100), report=report,
                  fixations=pd.DataFrame(fix, columns=["x", "y", "start", "end"]),
                  words=pd.DataFrame(words, columns=["word", "start", "end"]), reading_id="r1")


def test_finding_hva_uses_the_window_and_warns_naming_the_reading_when_empty():
    words = [("Heart", 3.0, 3.4), ("normal.", 3.4, 3.8), ("Small", 6.0, 6.3), ("effusion.", 6.3, 6.8)]
    fix = [(20, 20, 1.0, 1.2), (80, 70, 4.8, 5.0), (81, 71, 6.5, 6.6), (10, 90, 9.0, 9.2)]
    rec = reading(fix, words, "Heart normal. Small effusion.")
    v = gaze.finding_hva(rec, ("effusion",), sigma_px=5, out_size=(100, 100))
    assert np.unravel_index(np.argmax(v), v.shape) in {(70, 80), (71, 81), (70, 81), (71, 80)}
    assert v[20, 20] < 1e-3 and v[90, 10] < 1e-3
    with pytest.warns(gaze.EmptyHVAWarning, match="reading r1"):
        empty = gaze.finding_hva(rec, ("pneumothorax",), sigma_px=5, out_size=(100, 100))
    assert empty.shape == (100, 100) and not empty.any()


def test_hva_map_drops_nan_durations_and_off_image_gaze_with_a_count():
    fix = pd.DataFrame({"x": [50, 150, 50], "y": [50, 50, 40], "start": [0.0, 0.1, np.nan], "end": [0.2, 0.3, 0.5]})
    with pytest.warns(UserWarning, match="2 fixation"):
        v = gaze.hva_map(fix, (100, 100), sigma_px=3, out_size=(100, 100), weight="duration")
    assert v.max() == 1.0 and np.unravel_index(np.argmax(v), v.shape) == (50, 50)


def test_gaze_readings_names_a_missing_reading():
    split = pd.DataFrame({"dicom_id": ["a", "b"], "split": ["train", "train"], "gaze_source": ["reflacx", "egd-cxr"],
                          "reading_ids": ["R1|R2", "E1"], "n_readers": [2, 1]})
    r1 = Record(source="reflacx", dicom_id="a", image_path="a.jpg", image_size=(1, 1), reading_id="R1")
    e1 = Record(source="egd-cxr", dicom_id="b", image_path="b.jpg", image_size=(1, 1), reading_id="E1")
    assert gaze_readings(split, [r1], [e1]) == [r1, e1]
    with pytest.raises(KeyError, match="image a: reflacx reading R1"):
        gaze_readings(split, [], [e1])
