"""What the chapters write for the book: glued values as myst-nb reads them."""
from __future__ import annotations

import IPython.display
import pytest

from radgazegen.book import glue


@pytest.mark.parametrize("display", [False, True])
@pytest.mark.parametrize("value", [0.4312, "0.43 [0.31, 0.55]", 17])
def test_glue_writes_what_myst_nb_glue_writes(monkeypatch, value, display):
    from myst_nb.ext import glue as myst_glue

    seen = []
    record = lambda data, raw=False, metadata=None: seen.append((data, raw, metadata))
    monkeypatch.setattr(myst_glue, "ipy_display", record)
    monkeypatch.setattr(IPython.display, "display", record)
    myst_glue.glue("x", value, display=display)
    glue("x", value, display=display)
    assert len(seen) == 2 and seen[0] == seen[1]
    assert seen[1][2]["scrapbook"]["name"] == "x"


def test_glue_writes_a_numpy_scalar_as_the_number_it_holds(monkeypatch):
    import numpy as np
    from myst_nb.core.variables import format_plain_text

    seen = []
    monkeypatch.setattr(IPython.display, "display", lambda data, raw=False, metadata=None: seen.append(data))
    glue("x", np.float64(0.4312))
    glue("n", np.int64(17))
    texts = [next(v for k, v in d.items() if k.endswith("text/plain")) for d in seen]
    assert texts == ["0.4312", "17"]
    assert format_plain_text(texts[0], ".2f") == "0.43"   # what {glue:text}`x:.2f` shows
