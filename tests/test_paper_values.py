"""The paper's numbers come from one data file, and match the paper's text."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from radgazegen.core.paper import compare, paper_values

PAPER = Path(__file__).resolve().parents[2] / "shared" / "paper" / "radgazegen-paper.txt"


@pytest.mark.skipif(not PAPER.exists(), reason="the paper's text is not beside this checkout")
def test_dataset_counts_are_the_papers():
    text = re.sub(r"\s+", "", PAPER.read_text())
    for key, value in paper_values("datasets").items():
        assert f"n={value}" in text, key


def test_compare_puts_paper_beside_this_run():
    table = compare("datasets", {"train": 40, "test": 4, "not_in_paper": 1}, "smoke")
    assert list(table.columns) == ["paper", "this run (smoke)", "difference"]
    assert table.loc["train", "paper"] == 3580 and table.loc["train", "difference"] == 40 - 3580
    assert table.loc["test", "paper"] == 110
    assert table.loc["not_in_paper"].isna()["paper"]


def test_unknown_section_is_named():
    with pytest.raises(KeyError, match="no section 'table9'"):
        paper_values("table9")


def _number(cell: str) -> float:
    return float(cell.strip().rstrip("%"))


@pytest.mark.skipif(not PAPER.exists(), reason="the paper's text is not beside this checkout")
@pytest.mark.parametrize("section", ["table1", "table2", "table3", "table4", "table5"])
def test_tables_match_the_paper_cell_for_cell(section):
    from radgazegen.core.paper import paper_table

    lines = PAPER.read_text().splitlines()
    header = {"table1": "Canny\tSobel\tGL\tSegmentation\tHVA", "table2": "Canny (SSIM)", "table3": "Ate.\tCmg.",
              "table4": "Head\tMedium\tTail", "table5": "$FID(\\downarrow)$"}[section]
    start = next(i for i, ln in enumerate(lines) if header in ln)
    block = lines[start + 1:start + 12]  # the printed rows follow the header
    table = paper_table(section)
    for row, values in table.iterrows():
        # the printed row: its label, then its numbers, tab-separated
        printed = [ln.split("\t") for ln in block if ln.split("\t")[0].strip() == row and len(ln.split("\t")) > 2]
        assert printed, f"{section}: row {row!r} not in the paper"
        cells = [c for c in printed[0][1:] if c.strip()]
        assert [_number(c) for c in cells] == list(values), f"{section}: row {row!r}"


def test_paper_table_and_beside():
    import pandas as pd

    from radgazegen.core.paper import beside, paper_table

    t1 = paper_table("table1")
    assert t1.shape == (4, 5) and t1.loc["RadGazeGen", "HVA"] == 3.0021 and t1.attrs["better"] == "lower"
    assert paper_values("table3")["Original* | Avg."] == 82.62
    ours = pd.DataFrame({"Canny": [3.0]}, index=["RadGazeGen (ours)"])
    rows = {"RadGazeGen": "RadGazeGen (ours)", "ControlNet": "ControlNet (ours)"}
    b = beside("table1", ours, rows, "smoke", comparable=["Canny"])
    assert list(b.columns) == list(t1.columns)  # the paper's columns, one value each: fits the page
    assert b.loc[("RadGazeGen", "this run (smoke)"), "Canny"] == 3.0 and b.loc[("RadGazeGen", "paper"), "Canny"] == 2.8697
    assert abs(b.loc[("RadGazeGen", "difference"), "Canny"] - (3.0 - 2.8697)) < 1e-12
    assert pd.isna(b.loc[("RadGazeGen", "difference"), "HVA"])  # not declared the same quantity: no difference
    assert pd.isna(b.loc[("ControlNet", "this run (smoke)"), "Canny"]) and not pd.isna(b.loc[("T2I-Adapter", "paper"), "HVA"])
    assert "difference" not in beside("table1", ours, rows, "smoke").index.get_level_values("source")


def test_a_difference_only_where_the_quantity_is_the_papers():
    from radgazegen.metrics.evaluation import comparable_columns

    assert comparable_columns("table1", {"metric": "FID (study features)"}) == []
    assert comparable_columns("table1", {"metric": "FID (Inception-v3, pt_inception.pth)"})[:1] == ["Canny"]
    t2 = comparable_columns("table2", {"clip": "study image-report model"})
    assert not any("CLIP" in c for c in t2) and any("SSIM" in c for c in t2)
    from radgazegen.standins import StudyCLIP

    standin = StudyCLIP().name  # the stand-in's own name, as chapter 09 saves it: starts "CLIP score (study ..."
    assert standin.startswith("CLIP score") and comparable_columns("table2", {"clip": standin}) == t2
    with_clip = comparable_columns("table2", {"clip": "CLIP score (clip-vit-base-patch16)"})  # a local CLIP's name (09)
    assert with_clip == [*t2, "Style/Content (CLIP Score)"]
    assert comparable_columns("table5", {"metric": "FID (study features)"}) == ["SSIM", "PSNR"]
