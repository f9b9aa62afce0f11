"""Table 1's fidelity beyond FID, per pathology (chapter 08): KID and precision / recall /
density / coverage (``fidelity``) on the FID's features and the Fréchet Radiomics Distance
(``radiomics_distance``), for SD, Rad-CN, HVA-CN and each method of Table 1's HVA column (all
its controls), each with its 95% interval over findings and seeds, overall and per pathology.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from radgazegen.generation import methods
from radgazegen.metrics import fidelity, radiomics_distance

#: The ``pathology`` of ``fidelity.per_pathology``'s rows computed on every finding.
EVERYTHING = "all findings"


def fidelity_rows(registry: methods.Registry, images: dict, rows: Sequence[str],
                  method_of: Callable[[str, str], methods.Method | None]) -> dict[str, str]:
    """Row label -> method name of the methods measured: SD, Rad-CN, HVA-CN, then each of
    ``rows`` in the HVA column (``method_of(row, HVA)``, e.g. ``tables.table1_method``), those
    with generated ``images`` only, in that order. Used by chapter 08."""
    shown = {r: method_of(r, methods.HVA) for r in rows}
    shown = {methods.SD: registry.get(methods.SD), methods.RAD_CN: registry.get(methods.RAD_CN),
             methods.HVA_CN: registry.get(methods.HVA_CN), **shown}
    return {r: m.name for r, m in shown.items() if m is not None and m.name in images}


def fidelity_by_pathology(fid, real_features: np.ndarray, gen, shown: dict[str, str],
                          n_boot: int) -> tuple[pd.DataFrame, int]:
    """Every (row, metric) cell of ``shown`` (``fidelity_rows``) as ``fidelity.per_pathology``'s
    long table (columns pathology, n, row, column, value, low, high; ``n_boot`` bootstrap
    resamples) plus ``cell``, "value [low, high]" with 3 significant digits; and the PRDC's k.
    Metrics: KID, precision, recall, density, coverage on ``fid.features`` (``(R, N, D)``
    against ``real_features`` ``(N, D)``) and FRD on the images (``gen``: chapter 07's
    ``evaluation.Generated``; findings from its manifest). Used by chapter 08."""
    cells, k = {}, fidelity.prdc_neighbours(len(real_features))
    for r, name in shown.items():
        gen_features = np.stack([fid.features(x) for x in gen.images[name]])  # (R, N, D)
        cells.update({(r, m): ev for m, ev in fidelity.fidelity_evidence(real_features, gen_features, k).items()})
        cells[(r, "FRD")] = radiomics_distance.radiomics_evidence(gen.real, np.stack(gen.images[name]))
    long = fidelity.per_pathology(cells, gen.manifest["finding"].astype(str).to_numpy(), n_boot=n_boot)
    long["cell"] = [f"{v:.3g} [{lo:.3g}, {hi:.3g}]" for v, lo, hi in long[["value", "low", "high"]].to_numpy()]
    return long, k


def overall_table(long: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The "all findings" cells of ``fidelity_by_pathology``'s table: one row per method, one
    column per metric named with its features ("KID (study features)", from the FID's name
    ``metric``; FRD with ``radiomics_distance.FRD_FEATURES``). Used by chapter 08."""
    features_name = fidelity.features_of(metric)
    overall = long[long.pathology == EVERYTHING].pivot(index="row", columns="column", values="cell")
    overall.columns = [f"{c} ({radiomics_distance.FRD_FEATURES if c == 'FRD' else features_name})" for c in overall.columns]
    return overall
