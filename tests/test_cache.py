"""Map cache: reuse on a hit, a new folder per parameter set."""
from __future__ import annotations

import numpy as np

from radgazegen.cache import MapCache


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
