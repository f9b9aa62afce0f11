"""The paper's numbers come from one data file, and match the paper's text."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from radgazegen.paper import compare, paper_values

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
