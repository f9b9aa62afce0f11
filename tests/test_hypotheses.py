"""Gaze-guided hypotheses (§3.2.2) on known answers; feature extractors; gaze helpers."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from radgazegen import standins
from radgazegen.controls import gaze, hypotheses
from radgazegen.data import Record
from radgazegen.data.split import gaze_readings


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
    m1, l1 = standins.train_study_encoder(images, targets, epochs=2, batch_size=4, size=32, width=4, progress=False)
    m2, l2 = standins.train_study_encoder(images, targets, epochs=2, batch_size=4, size=32, width=4, progress=False)
    assert l1 == l2 and len(l1) == 2
    m1.save(tmp_path / "enc")
    loaded = standins.StudyEncoder.load(tmp_path / "enc")
    f1, f2 = hypotheses.StudyFeatures(m1)(images), hypotheses.StudyFeatures(loaded)(images)
    assert f1.shape == (12, 32) and np.allclose(f1, f2)
    with pytest.raises(FileNotFoundError, match="config.json"):
        standins.StudyEncoder.load(tmp_path / "nothing")


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


def test_gaze_mask_scales_the_dilation_from_a_real_radiographs_pixels():
    v = np.zeros((64, 64), np.float32)
    v[32, 32] = 1.0
    # 159 px of a real (2,544 px) radiograph = 4 px on a 64 px grid: a 4x4 square, once
    m = hypotheses.gaze_mask(v, 0.5, dilate_px=159, iterations=1)
    assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 255} and (m > 0).sum() == 16
    assert (hypotheses.gaze_mask(v, 0.5, dilate_px=159, iterations=3) > 0).sum() == 100  # 10x10
    assert not hypotheses.gaze_mask(np.zeros((8, 8), np.float32), 0.5, 100).any()
    assert gaze.at_image_scale(64, 512) == pytest.approx(12.88, abs=0.01)


def test_draw_bags_excludes_the_read_image_and_is_seeded():
    labels = {f"e{i}": "Pleural Effusion" for i in range(6)} | {f"o{i}": "Fracture" for i in range(5)}
    bag, mixed = hypotheses.draw_bags("Pleural Effusion", labels, "e0", 3, np.random.default_rng(1))
    assert len(bag) == 3 and bag == sorted(bag) and "e0" not in bag
    assert all(labels[d] == "Pleural Effusion" for d in bag)
    assert mixed[0] == bag[0] and len(mixed) == 3 and all(labels[d] == "Fracture" for d in mixed[1:])
    again = hypotheses.draw_bags("Pleural Effusion", labels, "e0", 3, np.random.default_rng(1))
    assert (bag, mixed) == again
    assert hypotheses.draw_bags("Fracture", {"o1": "Fracture", "e1": "Pleural Effusion"}, "x", 3,
                                np.random.default_rng(0)) is None  # fewer than 2 candidates


def test_released_selection_keeps_the_least_similar_and_returns_the_mask():
    """The authors' released script (an ablation): largest feature MSE to the heat map; control = the mask."""
    v = np.zeros((64, 64), np.float32)
    v[20:40, 20:40] = 1.0
    mask = np.where(v > 0.5, 255, 0).astype(np.uint8)
    bag = np.zeros((3, 64, 64), np.uint8)
    bag[0, 20:40, 20:40] = 255   # bright where the gaze is: its hypothesis resembles the heat map
    bag[1, 20:40, 20:40] = 120
    bag[2, :10, :10] = 255       # nothing under the mask: the least similar
    pick, mse, control = hypotheses.released_selection(v, mask, bag, PixelFeatures())
    assert pick == 2 and mse.shape == (3,) and mse[0] < mse[1] < mse[2]
    assert control is not None and np.array_equal(control, mask)


def test_the_gaze_control_comes_from_the_report_not_the_labels():
    """Table 3's protocol: the control is chosen from the prompt alone; permuting the scored
    images' labels cannot change it (the leak the method-fidelity issue removed)."""
    hyps = pd.DataFrame({"finding": ["Pleural Effusion", "Cardiomegaly", "Pleural Effusion"],
                         "control_path": ["eff-1.png", "cmg-1.png", "eff-2.png"]})
    reports = ["The heart size is normal. No pneumothorax. A small right pleural effusion is present.",
               "Moderate cardiomegaly is present. There is a left pleural effusion.",
               "No pleural effusion. No pneumothorax.",
               "There is a displaced left rib fracture."]  # no hypothesis of that finding
    labels = [{"Pleural Effusion": 1.0}, {"Cardiomegaly": 1.0, "Pleural Effusion": 1.0}, {"Edema": 1.0}, {"Fracture": 1.0}]
    records = [Record("chexpert", f"img{i}", None, (8, 8), report=r, labels=lab)
               for i, (r, lab) in enumerate(zip(reports, labels))]

    def controls(recs):
        return [hypotheses.hypothesis_for_report(r.report, hyps) for r in recs]

    first = controls(records)
    assert first == [("Pleural Effusion", "eff-1.png"), ("Cardiomegaly", "cmg-1.png"), None, None]
    rng = np.random.default_rng(0)
    for _ in range(5):  # permute the labels of the scored images: the controls stay
        perm = rng.permutation(len(records))
        for rec, lab in zip(records, [labels[k] for k in perm]):
            rec.labels = lab
        assert controls(records) == first
