"""The control vocabulary: one name per control, the key of its maps everywhere.

The same names key the map-cache folders (chapter 02's ``controls.json``), the training
items' controls, the conditioning tensors (``training_data.conditioning``), chapter 07's
``controls.npz``, the methods' controls (``radgazegen.generation.methods``) and the tables' columns. Use
the constants; the strings appear nowhere else. Display text (a table's column, a figure's
title) is ``LABELS[name]``.

- the radiomics controls of Rad-CN (§3.2.1), in the order of the unified control's channels:
  the filter maps ``CANNY``, ``SOBEL``, ``GL`` (``RADIOMICS_MAPS``) and the lung mask
  ``SEGMENTATION``; together ``RADIOMICS_CONTROLS``;
- the gaze control of HVA-CN (§3.2.2): ``HVA`` (``GAZE_CONTROL``);
- ``UNIFIED``: the radiomics controls stacked as channels, ``(N, 4, R, R)`` (the paper's
  "unified controls", one Rad-CN); ``unified_key(maps)`` names it with only ``maps``
  switched on (the other channels zero: Eq. 6's indicator) and ``unified_maps(key)`` reads
  the maps back.

Nothing here imports the rest of the package (every layer may import it).
"""
from __future__ import annotations

from typing import Iterable

CANNY = "canny"
SOBEL = "sobel"
GL = "gl"
SEGMENTATION = "segmentation"
HVA = "hva"
UNIFIED = "unified"

#: The radiomics filter maps of the paper, in the order of its tables.
RADIOMICS_MAPS = (CANNY, SOBEL, GL)
#: Controls of Rad-CN, in the order of the unified control's channels.
RADIOMICS_CONTROLS = (*RADIOMICS_MAPS, SEGMENTATION)
#: The gaze control of HVA-CN.
GAZE_CONTROL = HVA
#: Every control, radiomics first (the columns of Table 1).
CONTROLS = (*RADIOMICS_CONTROLS, HVA)
#: Display text of each control (the paper's column labels).
LABELS = {CANNY: "Canny", SOBEL: "Sobel", GL: "GL", SEGMENTATION: "Segmentation", HVA: "HVA"}

_SUBSET = ":"


def check_controls(names: Iterable[str], allowed: Iterable[str] = CONTROLS, what: str = "controls") -> list[str]:
    """``names`` as a list; ``ValueError`` naming the unknown ones and the allowed ones."""
    names, allowed = list(names), tuple(allowed)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"{what}: unknown control(s) {unknown}; expected some of {list(allowed)}")
    return names


def unified_key(maps: Iterable[str]) -> str:
    """The conditioning key of the unified control with only ``maps`` on: ``UNIFIED`` when all
    radiomics controls are on, else e.g. ``"unified:sobel+segmentation"`` (radiomics order)."""
    on = set(check_controls(maps, RADIOMICS_CONTROLS, "maps"))
    kept = [c for c in RADIOMICS_CONTROLS if c in on]
    return UNIFIED if len(kept) == len(RADIOMICS_CONTROLS) else UNIFIED + _SUBSET + "+".join(kept)


def unified_maps(key: str) -> tuple[str, ...] | None:
    """The radiomics controls switched on in a unified key (all for ``UNIFIED``); ``None`` when
    ``key`` is not a unified key."""
    if key == UNIFIED:
        return RADIOMICS_CONTROLS
    if key.startswith(UNIFIED + _SUBSET):
        return tuple(check_controls(key[len(UNIFIED) + 1:].split("+"), RADIOMICS_CONTROLS, key))
    return None
