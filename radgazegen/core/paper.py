"""The paper's printed numbers, from one data file (``paper_values.yaml``).

Every chapter that reports a number the paper also reports shows both, side by side, with
``compare``; nothing here is typed into a notebook.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd
import yaml

VALUES_FILE = Path(__file__).with_name("paper_values.yaml")


@lru_cache(maxsize=None)
def _load() -> dict:
    return yaml.safe_load(VALUES_FILE.read_text())


def paper_values(section: str) -> dict[str, float]:
    """The values of one section of the data file (e.g. ``"datasets"``); a table's cells are
    keyed ``"<row> | <column>"``."""
    data = _load()
    if section not in data:
        raise KeyError(f"{VALUES_FILE}: no section {section!r}; sections: {sorted(data)}")
    if "rows" in data[section]:
        t = paper_table(section)
        return {f"{r} | {c}": float(t.loc[r, c]) for r in t.index for c in t.columns}
    return dict(data[section]["values"])


def paper_table(section: str) -> pd.DataFrame:
    """One of the paper's Tables 1-5 (``"table1"`` ... ``"table5"``) as printed: rows are the
    paper's row labels, columns its column labels. ``attrs``: ``source`` and ``better``
    (``"lower"``/``"higher"``, or a dict per column)."""
    data = _load()
    if section not in data or "rows" not in data[section]:
        raise KeyError(f"{VALUES_FILE}: no table {section!r}; tables: {sorted(k for k, v in data.items() if 'rows' in v)}")
    spec = data[section]
    frame = pd.DataFrame.from_dict(spec["rows"], orient="index", columns=spec["columns"]).astype(float)
    frame.attrs.update(source=spec["source"], better=spec["better"])
    return frame


def beside(section: str, ours: pd.DataFrame, rows: Mapping[str, str], profile: str,
           comparable: Sequence[str] = ()) -> pd.DataFrame:
    """The paper's table with this run's values under each of its rows: index ``(row, source)``,
    source "paper" then "this run (<profile>)", and "difference" (this run - paper) in the
    ``comparable`` columns only: those where this run measures the same quantity as the paper
    (never, say, our study-feature FID against the paper's Inception FID). Columns: the paper's.
    ``rows``: paper row label -> this run's row label (rows or columns this run lacks stay empty);
    ``ours`` has the paper's column labels."""
    paper = paper_table(section)
    label = f"this run ({profile})"
    blocks = {}
    for row in paper.index:
        mine = rows.get(row)
        o = pd.Series({c: ours.loc[mine, c] if mine in ours.index and c in ours.columns else float("nan")
                       for c in paper.columns}, dtype=float)
        block = {"paper": paper.loc[row].astype(float), label: o}
        if comparable:
            block["difference"] = (o - paper.loc[row].astype(float)).where(paper.columns.isin(list(comparable)))
        blocks[row] = pd.DataFrame(block).T
    frame = pd.concat(blocks, names=["row", "source"])
    frame.attrs.update(paper.attrs)
    return frame


def compare(section: str, ours: Mapping[str, float], profile: str) -> pd.DataFrame:
    """Table ``Paper | This run (<profile>) | difference`` for the keys the run reports.

    Keys of ``ours`` that the paper does not report are shown with an empty paper cell.
    """
    paper = paper_values(section)
    rows = []
    for key, value in ours.items():
        p = paper.get(key)
        rows.append({"quantity": key, "paper": p, f"this run ({profile})": value,
                     "difference": None if p is None else value - p})
    frame = pd.DataFrame(rows).set_index("quantity")
    frame.attrs["source"] = _load()[section]["source"]
    return frame
