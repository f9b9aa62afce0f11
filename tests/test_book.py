"""What the chapters write for the book: glued values as myst-nb reads them."""
from __future__ import annotations

import IPython.display
import pytest

from radgazegen.figures.book import glue


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


def test_a_wide_table_is_shown_in_parts_that_fit_the_column():
    import pandas as pd

    from radgazegen.figures.book import column_parts

    table3 = pd.DataFrame([range(13)], index=["RadGazeGen"], columns=[f"f{i}" for i in range(12)] + ["Avg."])
    parts = column_parts(table3)
    assert [p.shape[1] for p in parts] == [7, 6] and all(p.index.equals(table3.index) for p in parts)
    assert pd.concat(parts, axis=1).equals(table3)  # nothing lost or reordered
    assert [p.shape[1] for p in column_parts(table3.iloc[:, :5])] == [5]


def test_a_claims_comparison_names_both_terms_with_their_columns():
    """Chapter 14's comparison rows read "A (column) − B (column)": a moved-gaze comparison's second
    term is the shuffled-gaze baseline, not the first term's column."""
    from radgazegen.figures.book import comparison_table

    row = {"method": "RadGazeGen", "column": "Canny", "minus": "SD", "minus column": "Canny", "difference": -0.000432,
           "95% low": -0.000752, "95% high": -0.000157, "favours the method": True, "findings": 4, "seeds": 3}
    moved = dict(row, column="gazed box", minus="RadGazeGen", **{"minus column": "shuffled gaze", "favours the method": False})
    table = comparison_table([row, moved])
    assert list(table.columns) == ["comparison", "difference [95% interval]", "interval favours the first",
                                   "findings × seeds"]
    assert table.iloc[0].tolist() == ["RadGazeGen (Canny) − SD (Canny)", "-0.000432 [-0.000752, -0.000157]", "yes", "4 × 3"]
    assert table.iloc[1]["comparison"] == "RadGazeGen (gazed box) − RadGazeGen (shuffled gaze)"
    assert table.iloc[1]["interval favours the first"] == "no"


def test_a_chapter_cross_references_only_chapters_every_profile_running_it_runs():
    """{eq}, {numref} and {ref} targets in another chapter must be built in each profile that
    builds the citing chapter (the lesson book has no chapter 08: a reference to eq-08-fid from
    chapter 12 failed its build under --warningiserror)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    labels = {}
    for nb in sorted((root / "notebooks").glob("[0-9][0-9]_*.py")):
        text = nb.read_text()
        for label in re.findall(r"\$\$ \(([a-z0-9-]+)\)|:(?:name|label): ([a-z0-9-]+)|^# \(([a-z0-9-]+)\)=", text, re.M):
            labels[next(x for x in label if x)] = nb.stem
    assert "eq-08-fid" in labels and "eq-07-indicator" in labels  # the scan finds definitions
    for profile in sorted(p for p in (root / "params").iterdir() if p.is_dir()):
        built = {p.stem for p in profile.glob("[0-9][0-9]_*.yml")}
        for stem in sorted(built):
            text = (root / "notebooks" / f"{stem}.py").read_text()
            for target in re.findall(r"\{(?:eq|numref|ref)\}`(?:[^`<]*<)?([a-z0-9-]+)>?`", text):
                owner = labels.get(target)
                assert owner is None or owner in built, (
                    f"{stem} references {target} of {owner}, which profile {profile.name} does not build")
