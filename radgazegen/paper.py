"""The paper's printed numbers, from one data file (``paper_values.yaml``).

Every chapter that reports a number the paper also reports shows both, side by side, with
``compare``; nothing here is typed into a notebook.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Mapping

import pandas as pd
import yaml

VALUES_FILE = Path(__file__).with_name("paper_values.yaml")


@lru_cache(maxsize=None)
def _load() -> dict:
    return yaml.safe_load(VALUES_FILE.read_text())


def paper_values(section: str) -> dict[str, float]:
    """The values of one section of the data file (e.g. ``"datasets"``)."""
    data = _load()
    if section not in data:
        raise KeyError(f"{VALUES_FILE}: no section {section!r}; sections: {sorted(data)}")
    return dict(data[section]["values"])


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
