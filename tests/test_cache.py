"""Map cache: reuse on a hit, a new folder per parameter set."""
from __future__ import annotations

import numpy as np

from radgazegen.controls.cache import MapCache


def test_cache_reuses_and_separates_parameters(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(12, dtype=np.uint8).reshape(3, 4)

    a = MapCache(tmp_path, "canny", {"low": 40, "high": 50})
    first = a.get("p10/img:1", compute)
    again = MapCache(tmp_path, "canny", {"high": 50, "low": 40}).get("p10/img:1", compute)
    assert np.array_equal(first, again) and len(calls) == 1
    b = MapCache(tmp_path, "canny", {"low": 30, "high": 50})
    b.get("p10/img:1", compute)
    assert len(calls) == 2 and a.dir != b.dir
    f = MapCache(tmp_path, "hva", {"sigma": 64}, fmt="npz")
    value = f.get("x", lambda: np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3))
    assert np.allclose(MapCache(tmp_path, "hva", {"sigma": 64}, fmt="npz").get("x", lambda: None), value)


def test_finding_hva_maps_are_the_gaze_definition_cached(tmp_path):
    import pandas as pd

    from radgazegen.controls import gaze
    from radgazegen.controls.cache import FindingHVAMaps
    from radgazegen.data import Record

    toks = "Small right effusion . No pneumothorax .".split()
    t = np.arange(len(toks)) * 0.4 + 5.0
    rec = Record("reflacx", "img1", tmp_path / "img1.jpg", (1000, 800),
                 fixations=pd.DataFrame({"x": [100.0, 700.0, 710.0], "y": [100.0, 500.0, 520.0],
                                         "start": [1.0, 4.5, 5.2], "end": [1.2, 4.9, 5.6]}),
                 words=pd.DataFrame({"word": toks, "start": t, "end": t + 0.3}))
    maps = FindingHVAMaps(tmp_path, 64.0, 128)  # sigma: 64 px of a real radiograph, rescaled to this 1,000 px image
    v = maps(rec, "Pleural Effusion", ("effusion",))
    assert v.shape == (128, 128) and v.max() == 1.0
    sigma = gaze.at_image_scale(64.0, 1000)
    assert sigma == 64.0 * 1000 / gaze.REFERENCE_WIDTH_PX
    assert np.array_equal(v, gaze.finding_hva(rec, ("effusion",), sigma, out_size=(128, 128)))
    # the peak lies on the fixations made while the finding was dictated, not on the early one
    y, x = np.unravel_index(np.argmax(v), v.shape)
    assert abs(x - 705 * 128 / 1000) < 4 and abs(y - 510 * 128 / 800) < 4
    again = FindingHVAMaps(tmp_path, 64, 128)
    assert again.cache.dir == maps.cache.dir and np.array_equal(again(rec, "Pleural Effusion", ()), v)
    assert again.cache.hits == 1
