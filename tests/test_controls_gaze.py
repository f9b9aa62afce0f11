"""Radiomics maps and HVA maps on known answers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radgazegen.controls import canny, gaussian_laplace, radiomics_maps, sobel
from radgazegen.controls.gaze import finding_fixations, finding_window, hva_map, sentence_starts, threshold


def step_edge(n: int = 128, at: int = 64) -> np.ndarray:
    img = np.zeros((n, n), np.uint8)
    img[:, at:] = 200
    return img


def test_canny_finds_the_step_edge_where_it_is():
    edges = canny(step_edge(), size=None)
    cols = np.nonzero(edges.any(axis=0))[0]
    assert set(cols) <= {63, 64} and edges[:, 63:65].any(axis=1)[2:-2].all()


def test_sobel_and_gl_peak_at_the_edge_and_span_0_255():
    s, g = sobel(step_edge(), size=None), gaussian_laplace(step_edge(), sigma=1.0, size=None)
    assert s.max() == 255 and set(np.nonzero(s[64] == 255)[0]) <= {63, 64}
    # |LoG| of a step peaks one sigma either side of the edge (between columns 63 and 64)
    assert g.max() == 255 and abs(int(np.argmax(g[64])) - 63.5) <= 1.5
    assert sobel(np.full((32, 32), 7, np.uint8), size=None).max() == 0  # flat image: no gradient


def test_radiomics_maps_batch_shapes_and_resizing():
    batch = np.stack([step_edge(200, 80), step_edge(200, 120)])
    maps = radiomics_maps(batch, size=128)
    assert set(maps) == {"canny", "sobel", "gl"}
    assert all(m.shape == (2, 128, 128) and m.dtype == np.uint8 for m in maps.values())
    with pytest.raises(ValueError, match="unknown map"):
        radiomics_maps(batch, maps=["hog"])
    with pytest.raises(ValueError, match="uint8"):
        canny(batch[0].astype(float))


def test_single_fixation_gives_a_gaussian_peaked_at_its_pixel_with_the_requested_sigma():
    fix = pd.DataFrame({"x": [100.0], "y": [60.0], "start": [0.0], "end": [0.3]})
    m = hva_map(fix, (256, 256), sigma_px=8.0, out_size=None)
    assert m.shape == (256, 256) and m.max() == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(m), m.shape) == (60, 100)
    # value at one sigma from the peak is exp(-1/2)
    assert m[60, 108] == pytest.approx(np.exp(-0.5), abs=0.01)
    # the same with sigma in degrees of visual angle
    m2 = hva_map(fix, (256, 256), sigma_px=None, sigma_deg=0.5, pixels_per_degree=16, out_size=None)
    assert np.allclose(m, m2)


def test_off_image_and_nan_fixations_are_dropped_with_a_warning():
    fix = pd.DataFrame({"x": [10.0, -5.0, 300.0, 20.0], "y": [10.0, 10.0, 10.0, np.nan],
                        "start": [0, 1, 2, 3.0], "end": [0.2, 1.2, 2.2, 3.2]})
    with pytest.warns(UserWarning, match="reading R1: 3 fixation"):
        m = hva_map(fix, (64, 64), sigma_px=2, out_size=None, where="reading R1")
    assert np.unravel_index(np.argmax(m), m.shape) == (10, 10)
    with pytest.warns(UserWarning) as caught:
        empty = hva_map(fix.iloc[1:3], (64, 64), where="reading R2")
    assert [str(w.message) for w in caught] == [
        "reading R2: 2 fixation(s) off the image or with missing fields were dropped",
        "reading R2: no fixations left; the HVA map is empty"]
    assert not empty.any() and not threshold(empty, 0.5).any()


def test_window_keeps_exactly_the_fixations_inside_it():
    words = pd.DataFrame({"word": ["heart", "normal", "small", "right", "effusion", "no", "pneumothorax"],
                          "start": [1.0, 1.4, 3.0, 3.4, 3.8, 6.0, 6.4], "end": [1.3, 1.8, 3.3, 3.7, 4.3, 6.3, 7.0]})
    window = finding_window(words, ["effusion"])  # no punctuation tokens: sentences from pauses
    assert window == pytest.approx((3.0 - 1.5, 4.3))
    fix = pd.DataFrame({"x": 1.0, "y": 1.0, "start": [0.5, 1.5, 2.0, 4.3, 4.31, 6.0], "end": 0.0})
    kept = finding_fixations(fix, window)
    assert kept.start.tolist() == [1.5, 2.0, 4.3]
    assert finding_window(words, ["cardiomegaly"]) is None
    assert finding_fixations(fix, None).empty


def test_threshold_and_dilation():
    hva = np.zeros((20, 20), np.float32)
    hva[10, 10], hva[5, 5] = 1.0, 0.4
    mask = threshold(hva, 0.5)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255} and mask.sum() == 255
    assert (threshold(hva, 0.5, dilate_px=3) == 255).sum() == 9
    with pytest.raises(ValueError, match="lam"):
        threshold(hva, 120)


def test_box_agreement_known_answers():
    from radgazegen.controls.gaze import box_agreement

    mask = np.zeros((10, 10), np.uint8)
    mask[2:6, 2:6] = 255
    assert box_agreement(mask, (2, 2, 6, 6)) == (True, 1.0)
    hit, iou = box_agreement(mask, (4, 2, 8, 6))  # shifted by half its width
    assert hit and iou == pytest.approx(8 / 24)
    assert box_agreement(mask, (7, 7, 9, 9)) == (False, 0.0)


def test_sentences_come_from_reflacx_punctuation_tokens():
    """REFLACX keeps "." and "," as tokens (zero gap, no pause): sentences end at ".", not at ","."""
    text = "Heart size is normal. Small right pleural effusion, no pneumothorax. Lungs clear."
    toks = text.replace(".", " .").replace(",", " ,").split()
    times = np.arange(len(toks)) * 0.3
    words = pd.DataFrame({"word": toks, "start": times, "end": times + 0.25})
    starts = sentence_starts(words)
    assert [toks[i] for i in starts] == ["Heart", "Small", "Lungs"]
    window = finding_window(words, ["effusion"])
    assert window == pytest.approx((times[toks.index("Small")] - 1.5, times[toks.index("effusion")] + 0.25))
    # EGD-CXR's word-level phrases with attached punctuation give the same tokens
    from radgazegen.data import _phrase_words
    phrases = [{"phrase": w + ("." if nxt == "." else "," if nxt == "," else ""), "begin_time": float(t),
                "end_time": float(t) + 0.25}
               for w, nxt, t in zip(toks, toks[1:] + [""], times) if w not in (".", ",")]
    egd = _phrase_words(phrases, Path("transcript.json"))
    assert egd.word.tolist() == toks
    assert [egd.word[i] for i in sentence_starts(egd)] == ["Heart", "Small", "Lungs"]


def test_finding_box_is_the_first_box_of_the_finding_on_the_grid():
    import pandas as pd

    from radgazegen.controls.gaze import finding_box

    truth = pd.DataFrame({"dicom_id": ["a", "a", "b"], "label": ["Edema", "Edema", "Atelectasis"],
                          "xmin": [10, 50, 0], "ymin": [20, 60, 0], "xmax": [30, 70, 5], "ymax": [40, 80, 5]})
    assert finding_box(truth, "a", "Edema", (100, 200), (50, 50)) == (5.0, 5.0, 15.0, 10.0)
    assert finding_box(truth, "a", "Atelectasis", (100, 200), (50, 50)) is None
    assert finding_box(None, "a", "Edema", (100, 200), (50, 50)) is None  # real data: no ground truth
