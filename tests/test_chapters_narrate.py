"""Chapters narrate, the package computes (issue 27): no code cell of a chapter is longer than
15 lines, its parameters cell and its exercises aside; the computing is in ``radgazegen``."""
from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.py"))
MAX_LINES = 15


def long_cells(path: Path) -> list[tuple[int, int]]:
    """``(cell number, non-blank lines)`` of each code cell over ``MAX_LINES``, the parameters
    cell and exercise cells (nbgrader's ``### BEGIN SOLUTION``) aside."""
    nb = jupytext.read(path)
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []) or "### BEGIN SOLUTION" in cell.source:
            continue
        n = sum(1 for line in cell.source.splitlines() if line.strip())
        if n > MAX_LINES:
            out.append((i, n))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_code_cell_over_15_lines(path):
    assert long_cells(path) == []


def test_the_rule_sees_a_long_cell(tmp_path):
    src = tmp_path / "99_x.py"
    body = "\n".join(f"x{i} = {i}" for i in range(16))
    src.write_text(f"# %% tags=[\"parameters\"]\n{body}\n\n# %%\n{body}\n\n# %%\nshort = 1\n")
    assert long_cells(src) == [(1, 16)]
