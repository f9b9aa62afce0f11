"""Metrics on known answers: identical images, shifted masks, perfect classifiers."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from radgazegen import metrics, standins
from radgazegen.metrics import box_masks, pointing_game
from radgazegen.standins import load_classifier, predict, save_classifier, train_classifier


def _images(n=6, size=32, seed=0):
    rng = np.random.default_rng(seed)
    base = np.zeros((n, size, size), np.uint8)
    for im in base:
        x, y = rng.integers(4, size - 12, 2)
        im[y:y + 8, x:x + 8] = 200
    return np.clip(base.astype(int) + rng.integers(0, 40, base.shape), 0, 255).astype(np.uint8)


def test_ssim_and_psnr_of_identical_and_different_images():
    a = _images()
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert math.isinf(metrics.psnr(a, a))
    b = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)  # +10 grey levels everywhere (no clipping here)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 100), rel=1e-4)
    assert metrics.ssim(a, 255 - a) < 0.2
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.ssim(a, a[:, :16])


def test_iou_of_a_shifted_square():
    t = np.zeros((1, 32, 32), np.uint8)
    t[0, 8:16, 8:16] = 255
    p = np.roll(t, 4, axis=2)  # half the square overlaps: IoU = 32 / (64 + 64 - 32)
    assert metrics.mean_iou(p, t) == pytest.approx(32 / 96)
    assert metrics.mean_iou(t, t) == 1.0
    assert metrics.mean_iou(np.zeros_like(t), np.zeros_like(t)) == 1.0


def test_controllability_of_an_image_against_its_own_filters():
    from radgazegen import controls

    g = _images(4, 64)
    ctl = {"canny": np.stack([controls.canny(x, size=64) for x in g]), "sobel": np.stack([controls.sobel(x, size=64) for x in g]),
           "gl": np.stack([controls.gaussian_laplace(x, size=64) for x in g]), "segmentation": (g > 150).astype(np.uint8) * 255}
    out = metrics.controllability(g, ctl, lung_mask=lambda im: (im > 150).astype(np.uint8) * 255)
    assert out == pytest.approx({"canny (SSIM)": 1.0, "sobel (SSIM)": 1.0, "gl (SSIM)": 1.0, "segmentation (mIoU)": 1.0}, abs=1e-5)
    other = metrics.controllability(_images(4, 64, seed=1), ctl, lung_mask=lambda im: (im > 150).astype(np.uint8) * 255)
    assert all(v < 0.9 for v in other.values())


def test_fid_with_study_features_is_zero_on_identical_sets_and_grows_with_a_shift():
    from radgazegen.standins import StudyEncoder

    torch.manual_seed(0)
    fid = metrics.FID.study(StudyEncoder(3, width=8, size=32))
    assert fid.name == "FID (study features)"
    a, b = _images(40, 32, 0), _images(40, 32, 1)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-3)
    near, far = fid(a, b), fid(a, np.clip(b.astype(int) + 80, 0, 255).astype(np.uint8))
    assert 0 < near < far
    with pytest.raises(FileNotFoundError, match="FID Inception weights not found"):
        metrics.FID.inception("/nonexistent/pt_inception.pth")


def test_auc_and_long_tail_report_of_perfect_and_chance_classifiers():
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    assert metrics.auc_per_class(y, y.astype(float), ["a", "b"]) == {"a": 1.0, "b": 1.0}
    assert math.isnan(metrics.auc_per_class(np.ones((3, 1)), np.ones((3, 1)), ["c"])["c"])
    classes = ["h1", "h2", "m", "t"]
    truth = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    perfect = metrics.long_tail_report(truth, truth, classes, {"Head": ["h1", "h2"], "Medium": ["m"], "Tail": ["t"]})
    assert perfect == {"Head": 1.0, "Medium": 1.0, "Tail": 1.0, "Avg": 1.0, "mF1": 1.0, "bAcc": 1.0}
    all_h1 = metrics.long_tail_report(truth, np.zeros(8, int), classes, {"Head": ["h1", "h2"], "Medium": ["m"], "Tail": ["t"]})
    assert all_h1["Head"] == 0.5 and all_h1["Tail"] == 0.0 and all_h1["bAcc"] == 0.25
    # a test set without "t" and predictions of "t": an error on the true class, no warning on the page
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        no_tail = metrics.long_tail_report(truth[:6], np.array([0, 0, 1, 3, 2, 2]), classes, {"Head": ["h1", "h2"], "Medium": ["m"], "Tail": ["t"]})
    assert no_tail["Head"] == 0.75 and no_tail["Medium"] == 1.0 and math.isnan(no_tail["Tail"]) and no_tail["bAcc"] == no_tail["Avg"] == (1 + 0.5 + 1) / 3


def test_study_clip_learns_to_match_images_to_their_reports(tmp_path):
    from radgazegen.models import clip_tokenizer

    tok = clip_tokenizer(tmp_path / "tok")
    rng = np.random.default_rng(0)
    images = np.zeros((48, 32, 32), np.uint8)
    prompts = []
    for i, im in enumerate(images):  # left-bright images say "left", right-bright ones "right"
        side = i % 2
        im[:, side * 16:(side + 1) * 16] = 200
        im += rng.integers(0, 30, im.shape).astype(np.uint8)
        prompts.append("opacity in the left lung." if side == 0 else "opacity in the right lung.")
    ids = standins.token_ids(tok, prompts)
    model, losses = standins.train_study_clip(images, ids, epochs=15, size=32, progress=False)
    assert losses[-1] < losses[0]
    matched = model.score(images, ids).mean()
    swapped = model.score(images, standins.token_ids(tok, prompts[1:] + prompts[:1])).mean()
    assert matched > swapped + 10  # CLIP-score points
    model.save(tmp_path / "clip")
    assert np.allclose(standins.StudyCLIP.load(tmp_path / "clip").score(images, ids), model.score(images, ids))


def test_classifier_learns_separable_classes_and_round_trips(tmp_path):
    images = np.zeros((16, 32, 32), np.uint8)
    images[8:, :, :16] = 220  # class 1: bright left half
    labels = np.array([0] * 8 + [1] * 8)
    model, losses = train_classifier("resnet18", images, labels, multilabel=False, size=32, epochs=20,
                                     batch_size=8, lr=1e-3, progress=False)
    prob = predict(model, images)
    assert (prob.argmax(1) == labels).mean() == 1.0
    save_classifier(model, tmp_path / "clf")
    assert np.allclose(predict(load_classifier(tmp_path / "clf"), images), prob, atol=1e-5)
    with pytest.raises(ValueError, match="unknown classifier"):
        train_classifier("vgg", images, labels, multilabel=False)


def test_pointing_game_and_box_masks():
    m = box_masks([[(0, 0, 50, 50)], [(50, 50, 100, 100)]], [(100, 100), (100, 100)], 10)
    assert m[0, :5, :5].all() and not m[0, 5:, 5:].any() and m.mean() == 0.25
    heat = np.zeros((2, 10, 10))
    heat[0, 2, 2] = 1  # inside the first box
    heat[1, 2, 2] = 1  # outside the second
    assert pointing_game(heat, m).tolist() == [1.0, 0.0]


def test_claims_on_the_papers_own_tables():
    from radgazegen.metrics.evaluation import paper_as_ours
    from radgazegen.metrics.paper_claims import claims

    c = claims({f"table{i}": paper_as_ours(f"table{i}") for i in range(1, 6)}).set_index("claim")
    holds = lambda k: c.loc[k, "holds"]
    # the paper's printed Table 1 has T2I-Adapter best on Canny AND Sobel: 3 of 5, not the text's 4 of 5
    assert c.loc["RadGazeGen has the best FID on 4 of 5 controls", "evidence"] == "best on 3 of 5 controls"
    assert not holds("RadGazeGen has the best FID on 4 of 5 controls")
    assert holds("RadGazeGen beats ControlNet and Multi-ControlNet (FID) on all controls")
    assert c.loc["RadGazeGen beats SD on 7 of 12 pathologies", "evidence"].startswith("higher AUC than SD on 7 of 12")
    assert holds("RadGazeGen beats SD and ControlNet on 3 of 5 controllability columns")  # Canny, GL, CLIP
    assert holds("RadGazeGen beats ControlNet and Multi-ControlNet on head and medium classes")
    assert holds("Adding a radiomics map to HVA-CN improves it")  # SSIM and PSNR, not FID
    better = paper_as_ours("table1")
    better.loc["RadGazeGen"] -= 1
    assert claims({"table1": better}).set_index("claim").loc["RadGazeGen has the best FID on 4 of 5 controls", "holds"]


def test_xrv_classifier_loads_local_weights_only_and_maps_table3_columns(tmp_path):
    import torchxrayvision as xrv

    from radgazegen.standins import XRVClassifier
    from radgazegen.core.labels import TABLE3_PATHOLOGIES

    with pytest.raises(FileNotFoundError, match="not downloaded"):
        XRVClassifier(tmp_path)
    fname = xrv.models.model_urls["densenet121-res224-all"]["weights_url"].rsplit("/", 1)[1]
    torch.manual_seed(0)
    torch.save(xrv.models.DenseNet(weights=None), tmp_path / fname)  # a file the test makes itself
    clf = XRVClassifier(tmp_path)
    assert all(x in clf.pathologies for _, _, x in TABLE3_PATHOLOGIES)  # every Table 3 column has an output
    prob = clf(np.random.default_rng(0).integers(0, 255, (2, 256, 256), dtype=np.uint8))
    assert prob.shape == (2, len(clf.pathologies)) and np.isfinite(prob).all()


def test_torchxrayvision_input_is_its_own_preprocessing():
    """Center crop then resize (TorchXRayVision's transforms), in [-1024, 1024]: a wide image is cropped, not squashed."""
    import torchxrayvision as xrv

    from radgazegen.standins import xrv_input

    img = np.full((300, 450), 100, np.uint8)
    img[:, :60] = 255  # a bright strip on the left, outside the central 300x300 square
    x = xrv_input(img[None]).numpy()
    assert x.shape == (1, 1, 224, 224) and x.dtype == np.float32
    expected = xrv.datasets.normalize(img[:, 75:375].astype(np.float32), 255)
    assert np.allclose(x[0, 0], expected[0, 0]) and np.allclose(x, expected.mean())
    assert x.max() < 1024 * (2 * 255 / 255 - 1) - 1  # the strip is cropped away
    with pytest.raises(ValueError, match="expected .H, W. uint8"):
        xrv_input(np.zeros((1, 4, 4), np.float32))


def test_a_claim_on_cells_a_profile_did_not_compute_is_not_computed_not_refuted():
    """lesson trains no baseline: its Table 1 has RadGazeGen's HVA cell only and its Table 2 no
    ControlNet row. A comparison with a missing cell is not evidence against the claim."""
    import numpy as np

    from radgazegen.metrics.evaluation import paper_as_ours
    from radgazegen.metrics.paper_claims import claims

    t1, t2 = paper_as_ours("table1"), paper_as_ours("table2")
    t1.loc[:, :] = np.nan
    t1.loc["RadGazeGen", t1.columns[-1]] = 3.0
    t2.loc["ControlNet"] = np.nan
    t5 = paper_as_ours("table5")
    t5.loc[[r for r in t5.index if r not in ("RadGazeGen", "HVA-CN")]] = np.nan
    c = claims({"table1": t1, "table2": t2, "table5": t5}).set_index("claim")
    for claim in ("RadGazeGen has the best FID on 4 of 5 controls",
                  "RadGazeGen beats ControlNet and Multi-ControlNet (FID) on all controls",
                  "ControlNet has better image quality than Multi-ControlNet",
                  "RadGazeGen beats SD and ControlNet on 3 of 5 controllability columns",
                  "Adding a radiomics map to HVA-CN improves it"):
        assert c.loc[claim, "holds"] is None and c.loc[claim, "evidence"].startswith("missing"), claim
    assert c.loc["RadGazeGen beats every component (FID, SSIM, PSNR)", "holds"] is not None  # HVA-CN is a component


def test_two_settings_puts_two_rows_side_by_side_with_paired_intervals_read_each_columns_way():
    from radgazegen.core.intervals import Evidence
    from radgazegen.metrics.evaluation import two_settings

    rng = np.random.default_rng(0)
    base = rng.random((2, 80))
    cells = {("study", "SSIM"): Evidence("mean", "higher", values=base),
             ("authors", "SSIM"): Evidence("mean", "higher", values=base + 0.2),  # clearly higher: better
             ("study", "error"): Evidence("mean", "lower", values=base),
             ("authors", "error"): Evidence("mean", "lower", values=base + 0.2),  # clearly higher: worse
             ("study", "same"): Evidence("mean", "higher", values=base),
             ("authors", "same"): Evidence("mean", "higher", values=base + rng.normal(0, 0.01, base.shape)),
             ("study", "only one row"): Evidence("mean", "higher", values=base)}
    out = two_settings(cells, "study", "authors", ["SSIM", "error", "same", "only one row"], n_boot=300)
    assert list(out.index) == ["SSIM", "error", "same"]  # a column one row lacks is left out
    assert out.loc["SSIM", "difference"] == pytest.approx(0.2) and out.loc["SSIM", "95% low"] > 0.15
    assert list(out["better"]) == ["authors", "study", "neither (the interval reaches 0)"]
    assert out.loc["SSIM", "study"] == pytest.approx(base.mean())
