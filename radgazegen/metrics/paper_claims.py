"""The paper's claims (§4.2) checked on a run's tables (chapter 14), each with its rule
(``SupportRule``: which paired differences must exclude 0 in the claim's favour) and the
intervals of those differences over findings and seeds; and the study's own claims on the
cohort's counterfactuals (``MOVED_GAZE_CLAIM``, ``MIRRORED_GAZE_CLAIM``: chapter 13).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from radgazegen.core.artifacts import as_run
from radgazegen.generation import read_generation
from radgazegen.generation.methods import (
    HVA_CN, HVA_CN_EQ5, MULTI_CONTROLNET, PAPER_FAMILIES, RAD_CN, RADGAZEGEN, SD, SINGLE_CONTROLNET, T2I_ADAPTER, Registry,
    catalogue,
)
from radgazegen.core.labels import TABLE3_PATHOLOGIES
from radgazegen.core.vocabulary import CANNY, CONTROLS, HVA, LABELS, RADIOMICS_CONTROLS, RADIOMICS_MAPS, SEGMENTATION


def _computed(x: pd.DataFrame, rows: list[str]) -> pd.DataFrame:
    """The columns of table ``x`` where every one of ``rows`` has a value (a profile computes
    only some cells: lesson trains no baseline). KeyError, which marks the claim not computed,
    when a row is absent or no column has them all: a comparison with a cell that was not
    computed is not evidence against a claim."""
    absent = [r for r in rows if r not in x.index]
    if absent:
        raise KeyError(f"rows {absent}")
    ok = x.loc[rows].notna().all()
    if not ok.any():
        raise KeyError(f"no column where {', '.join(rows)} all have a value")
    return x.loc[:, ok]


def claims(t: dict[str, pd.DataFrame], evidence: dict[str, dict] | None = None, n_boot: int = 1000) -> pd.DataFrame:
    """The paper's claims (§4.2) checked on tables ``t["table1"]`` ... ``t["table5"]`` (rows and
    columns as the table notebooks save them; a missing table skips its claims).

    Returns one row per claim: ``claim``, ``table``, ``evidence`` (the counts it rests on) and
    ``holds`` (True / False on the cells' means; None when a needed cell is missing). Applied to
    the paper's own tables (``paper_as_ours``) it says whether the paper's numbers support its text.

    ``evidence``: per table, the cells' per-finding, per-seed evidence (``Run.read_evidence``).
    Where a claim's comparisons have it, each comparison's difference gets a 95% paired
    bootstrap interval over findings and seeds (``intervals.paired_difference``), listed in
    ``intervals`` (text) and ``comparisons`` (one dict per comparison), and ``supported`` is True only when the intervals that the claim needs
    exclude 0 in its favour (the same count rule as ``holds``); None where there is no evidence.
    """
    out = []
    evidence = evidence or {}
    known = catalogue()
    table4_baselines = [known.single(SINGLE_CONTROLNET, CANNY).name, known.find(MULTI_CONTROLNET, (CANNY, SEGMENTATION)).name]
    map_with_gaze = [known.find(RADGAZEGEN, (c, HVA)).name for c in RADIOMICS_CONTROLS]  # Table 5's map + HVA-CN rows

    evidence_by_table, bootstrapped = evidence, {}

    def add(claim, table, fn):
        if table not in t:
            return
        try:
            holds, evidence = fn(t[table])
        except KeyError as e:
            holds, evidence = None, f"missing {e}"
        if holds is not None and isinstance(holds, (bool, np.bool_)):
            holds = bool(holds)
        row = {"claim": claim, "table": table, "evidence": evidence, "holds": holds, "supported": None, "intervals": "",
               "comparisons": []}
        if claim in SUPPORT_RULES and table in evidence_by_table:
            row.update(_supported(SUPPORT_RULES[claim], evidence_by_table[table], n_boot, bootstrapped))
        out.append(row)

    def best_fid(x):
        x = x.astype(float)
        x = x.loc[:, x.loc[RADGAZEGEN].notna() & (x.notna().sum() >= 2)] if RADGAZEGEN in x.index else x.iloc[:, :0]
        if x.shape[1] < 4:  # the claim counts 4 controls: fewer compared ones cannot decide it
            raise KeyError(f"{RADGAZEGEN} beside another method on {x.shape[1]} control(s), 4 needed")
        n = int((x.idxmin() == RADGAZEGEN).sum())
        return n >= 4, f"best on {n} of {x.shape[1]} controls"

    def beats_cn_mcn(x):
        x = _computed(x.astype(float), [RADGAZEGEN, SINGLE_CONTROLNET, MULTI_CONTROLNET])
        n = int(((x.loc[RADGAZEGEN] < x.loc[SINGLE_CONTROLNET]) & (x.loc[RADGAZEGEN] < x.loc[MULTI_CONTROLNET])).sum())
        return n == x.shape[1], f"lower FID than both on {n} of {x.shape[1]} controls"

    def t2_beats(x):
        x = _computed(x.astype(float), [RADGAZEGEN, SD, SINGLE_CONTROLNET])
        cols = [c for c in x.columns]
        n = int(((x.loc[RADGAZEGEN, cols] > x.loc[SD, cols]) & (x.loc[RADGAZEGEN, cols] > x.loc[SINGLE_CONTROLNET, cols])).sum())
        return n >= 3, f"higher than SD and ControlNet on {n} of {len(cols)} columns"

    def cn_over_mcn(x):
        x = _computed(x.astype(float), [SINGLE_CONTROLNET, MULTI_CONTROLNET])
        n = int((x.loc[SINGLE_CONTROLNET] < x.loc[MULTI_CONTROLNET]).sum())
        return n > x.shape[1] / 2, f"ControlNet's FID lower on {n} of {x.shape[1]} controls"

    def t3_beats(x):
        x = x.astype(float).drop(columns=["Avg."], errors="ignore")
        ok = x.loc[[RADGAZEGEN, SD]].notna().all()
        n = int((x.loc[RADGAZEGEN, ok] > x.loc[SD, ok]).sum())
        return n >= 7 * int(ok.sum()) / 12, f"higher AUC than SD on {n} of {int(ok.sum())} pathologies (paper: 7 of 12)"

    def t4_head_medium(x):
        r, others = x.loc[RADGAZEGEN], x.loc[table4_baselines]
        n = int(sum(r[g] > others[g].max() for g in ("Head", "Medium")))
        return n == 2, f"best on {n} of 2 groups (head, medium)"

    def t4_overall(x):
        r, others = x.loc[RADGAZEGEN], x.loc[table4_baselines]
        n = int(sum(r[g] > others[g].max() for g in ("Avg", "mF1", "bAcc")))
        return n == 3, f"best on {n} of 3 (balanced Avg, mF1, bAcc)"

    def t5_full_best(x):
        x = x[x.notna().all(axis=1)]  # the subsets this run generated
        if RADGAZEGEN not in x.index or len(x) < 2:
            raise KeyError(f"{RADGAZEGEN} and at least one of its components")
        comps = x.drop(index=RADGAZEGEN)
        wins = {"FID": bool((x.loc[RADGAZEGEN, "FID"] < comps["FID"]).all()),
                "SSIM": bool((x.loc[RADGAZEGEN, "SSIM"] > comps["SSIM"]).all()),
                "PSNR": bool((x.loc[RADGAZEGEN, "PSNR"] >= comps["PSNR"]).all())}
        return all(wins.values()), "best on " + ", ".join(k for k, v in wins.items() if v) if any(wins.values()) else "best on none"

    def t5_maps_help(x):
        rows = [r for r in x.index if r in map_with_gaze and x.loc[r].notna().all()]
        if not rows or HVA_CN not in x.index or x.loc[HVA_CN].isna().any():
            raise KeyError(f"{HVA_CN} and a radiomics map with it")
        h = x.loc[HVA_CN]
        better = {r: int(x.loc[r, "FID"] < h["FID"]) + int(x.loc[r, "SSIM"] > h["SSIM"]) + int(x.loc[r, "PSNR"] > h["PSNR"])
                  for r in rows}
        n = sum(v >= 2 for v in better.values())
        return n == len(rows), f"better than HVA-CN alone on at least 2 of 3 metrics for {n} of {len(rows)} maps"

    def gaze_hits(x):
        h = x["hit rate"]
        ok = h[RADGAZEGEN] > max(h.get(SD, np.nan), h.get(RAD_CN, np.nan), x["chance"].iloc[0])
        return ok, (f"{RADGAZEGEN} {h[RADGAZEGEN]:.2f} vs {SD} {h.get(SD, np.nan):.2f}, {RAD_CN} "
                    f"{h.get(RAD_CN, np.nan):.2f}, chance {x['chance'].iloc[0]:.2f}")

    add("RadGazeGen has the best FID on 4 of 5 controls", "table1", best_fid)
    add("RadGazeGen beats ControlNet and Multi-ControlNet (FID) on all controls", "table1", beats_cn_mcn)
    add("ControlNet has better image quality than Multi-ControlNet", "table1", cn_over_mcn)
    add("RadGazeGen beats SD and ControlNet on 3 of 5 controllability columns", "table2", t2_beats)
    add("RadGazeGen beats SD on 7 of 12 pathologies", "table3", t3_beats)
    add("RadGazeGen beats ControlNet and Multi-ControlNet on head and medium classes", "table4", t4_head_medium)
    add("RadGazeGen improves long-tailed classification on both test sets", "table4", t4_overall)
    add("RadGazeGen beats every component (FID, SSIM, PSNR)", "table5", t5_full_best)
    add("Adding a radiomics map to HVA-CN improves it", "table5", t5_maps_help)
    def follows_moved_gaze(x):
        name = HVA_CN_EQ5 if HVA_CN_EQ5 in x.index else RADGAZEGEN  # the primary test's model where trained
        g = x.loc[name]
        ok = g["gazed box"] > max(g["shuffled gaze"], x["gazed box"].get(SD, np.nan))
        return ok, (f"{name} in the gazed box {g['gazed box']:.2f} vs shuffled gaze {g['shuffled gaze']:.2f}, "
                    f"{SD} {x['gazed box'].get(SD, np.nan):.2f}")

    add("Gaze guidance puts the finding where the gaze was (not in the paper: the cohort's test)", "localisation", gaze_hits)
    add(MOVED_GAZE_CLAIM, "moved_gaze", follows_moved_gaze)

    def follows_mirrored_gaze(x):
        g, sd = x.loc[HVA_CN_EQ5, "gazed lung"], x.loc[SD, "gazed lung"]
        return g > sd, f"{HVA_CN_EQ5} in the gazed lung {g:.2f} vs {SD} {sd:.2f} (0.5 by construction)"

    add(MIRRORED_GAZE_CLAIM, "mirrored_gaze", follows_mirrored_gaze)
    return pd.DataFrame(out, columns=["claim", "table", "evidence", "holds", "supported", "intervals", "comparisons"])


#: The moved-gaze counterfactual (chapter 13): the finding follows a gaze moved elsewhere.
MOVED_GAZE_CLAIM = "The finding follows the gaze when the gaze is moved (not in the paper: the cohort's counterfactual)"
#: The primary test of the central claim (chapter 13): the finding changes lungs with a mirrored gaze.
MIRRORED_GAZE_CLAIM = ("The gaze decides where the finding appears: it changes lungs when the gaze is mirrored "
                       "(the central claim; chapter 13's primary test on the cohort)")


_T1_COLUMNS = [LABELS[c] for c in CONTROLS]  # chapter 08's columns
_T2_COLUMNS = [f"{LABELS[c]} (SSIM)" for c in RADIOMICS_MAPS] + ["Segment. (mIoU)", "Style/Content (CLIP Score)"]  # 09's
_T5_METRICS = ["FID", "SSIM", "PSNR"]  # chapter 12's columns
Comparison = tuple[tuple[str, str], tuple[str, str]]


@dataclass(frozen=True)
class SupportRule:
    """How a claim's comparisons decide it. A comparison ``((row a, column), (row b, column))``
    favours a when its 95% interval excludes 0 on a's side; a group of comparisons counts when at
    least ``per_group(len(group))`` of them favour a (default: all); the claim is supported when
    at least ``need(number of groups)`` groups count. A group whose cells have no evidence makes
    the claim unsupported, unless ``defined_only`` (then it is left out of the number of groups:
    Table 3's pathologies whose AUC is undefined on this run, as the mean-based check does).
    ``first_defined``: the groups are alternatives in order of preference (one subject per
    run): only the first whose cells have evidence decides."""
    groups: list[list[Comparison]]
    need: Callable[[int], int]
    per_group: Callable[[int], int] = lambda n: n
    defined_only: bool = False
    first_defined: bool = False


def _support_rules() -> dict[str, SupportRule]:
    known = catalogue()
    cn_canny, mcn = known.single(SINGLE_CONTROLNET, CANNY).name, known.find(MULTI_CONTROLNET, (CANNY, SEGMENTATION)).name
    map_rows = [known.find(RADGAZEGEN, (c, HVA)).name for c in RADIOMICS_CONTROLS]
    rg = RADGAZEGEN
    return {
        "RadGazeGen has the best FID on 4 of 5 controls": SupportRule(
            [[((rg, c), (f, c)) for f in (T2I_ADAPTER, SINGLE_CONTROLNET, MULTI_CONTROLNET)] for c in _T1_COLUMNS],
            lambda n: 4),
        "RadGazeGen beats ControlNet and Multi-ControlNet (FID) on all controls": SupportRule(
            [[((rg, c), (SINGLE_CONTROLNET, c)), ((rg, c), (MULTI_CONTROLNET, c))] for c in _T1_COLUMNS], lambda n: n),
        "ControlNet has better image quality than Multi-ControlNet": SupportRule(
            [[((SINGLE_CONTROLNET, c), (MULTI_CONTROLNET, c))] for c in _T1_COLUMNS], lambda n: n // 2 + 1),
        "RadGazeGen beats SD and ControlNet on 3 of 5 controllability columns": SupportRule(
            [[((rg, c), (SD, c)), ((rg, c), (SINGLE_CONTROLNET, c))] for c in _T2_COLUMNS], lambda n: 3),
        "RadGazeGen beats SD on 7 of 12 pathologies": SupportRule(
            [[((rg, a), (SD, a))] for a, _, _ in TABLE3_PATHOLOGIES], lambda n: int(np.ceil(7 * n / 12)), defined_only=True),
        "RadGazeGen beats ControlNet and Multi-ControlNet on head and medium classes": SupportRule(
            [[((rg, g), (b, g)) for b in (cn_canny, mcn)] for g in ("Head", "Medium")], lambda n: n),
        "RadGazeGen improves long-tailed classification on both test sets": SupportRule(
            [[((rg, g), (b, g)) for b in (cn_canny, mcn)] for g in ("Avg", "mF1", "bAcc")], lambda n: n),
        "RadGazeGen beats every component (FID, SSIM, PSNR)": SupportRule(
            [[((rg, m), (r, m)) for r in (RAD_CN, HVA_CN, *map_rows)] for m in _T5_METRICS], lambda n: n),
        "Adding a radiomics map to HVA-CN improves it": SupportRule(
            [[((r, m), (HVA_CN, m)) for m in _T5_METRICS] for r in map_rows], lambda n: n, per_group=lambda n: 2),
        "Gaze guidance puts the finding where the gaze was (not in the paper: the cohort's test)": SupportRule(
            [[((rg, "hit rate"), (SD, "hit rate")), ((rg, "hit rate"), (RAD_CN, "hit rate")),
              ((rg, "hit rate"), ("chance", "hit rate"))]], lambda n: 1),
        MOVED_GAZE_CLAIM: SupportRule([[((m, "gazed box"), (m, "shuffled gaze")), ((m, "gazed box"), (SD, "gazed box"))]
                                       for m in (HVA_CN_EQ5, rg)], lambda n: 1, first_defined=True),
        MIRRORED_GAZE_CLAIM: SupportRule([[((HVA_CN_EQ5, "gazed lung"), (SD, "gazed lung"))]], lambda n: 1),
    }


#: Every claim of ``claims`` and how its 95% intervals decide it (the same count rules as ``holds``).
SUPPORT_RULES: dict[str, SupportRule] = _support_rules()

#: Claim -> (a short stable id, the results table that checks it), for every claim of ``claims``
#: in the order it checks them: the claims ledger's keys (``radgazegen.metrics.ledger``).
CLAIMS: dict[str, tuple[str, str]] = {
    "RadGazeGen has the best FID on 4 of 5 controls": ("t1-best-fid", "table1"),
    "RadGazeGen beats ControlNet and Multi-ControlNet (FID) on all controls": ("t1-beats-cn-mcn", "table1"),
    "ControlNet has better image quality than Multi-ControlNet": ("t1-cn-over-mcn", "table1"),
    "RadGazeGen beats SD and ControlNet on 3 of 5 controllability columns": ("t2-controllability", "table2"),
    "RadGazeGen beats SD on 7 of 12 pathologies": ("t3-auc", "table3"),
    "RadGazeGen beats ControlNet and Multi-ControlNet on head and medium classes": ("t4-head-medium", "table4"),
    "RadGazeGen improves long-tailed classification on both test sets": ("t4-overall", "table4"),
    "RadGazeGen beats every component (FID, SSIM, PSNR)": ("t5-full-best", "table5"),
    "Adding a radiomics map to HVA-CN improves it": ("t5-maps-help", "table5"),
    "Gaze guidance puts the finding where the gaze was (not in the paper: the cohort's test)": ("gaze-pointing",
                                                                                                  "localisation"),
    MOVED_GAZE_CLAIM: ("moved-gaze", "moved_gaze"),
    MIRRORED_GAZE_CLAIM: ("mirrored-gaze", "mirrored_gaze"),
}


def comparison_text(a: tuple[str, str], b: tuple[str, str]) -> str:
    """A paired comparison ``a - b`` with both terms in full, each a (row, column) cell:
    "RadGazeGen (gazed box) − RadGazeGen (shuffled gaze)"."""
    return f"{a[0]} ({a[1]}) − {b[0]} ({b[1]})"


def _supported(rule: SupportRule, cells: dict, n_boot: int, done: dict) -> dict:
    """``supported`` and ``intervals`` of one claim (``SUPPORT_RULES``) on one table's evidence
    (``done``: comparisons already bootstrapped, shared by the claims of one call)."""
    from radgazegen.core.intervals import paired_difference

    def diff(a, b):
        if (id(cells), a, b) not in done:
            done[(id(cells), a, b)] = paired_difference(cells[a], cells[b], n_boot=n_boot)
        return done[(id(cells), a, b)]

    texts, rows, counted, usable = [], [], 0, 0
    groups = rule.groups
    if rule.first_defined:
        groups = [g for g in groups if all(a in cells and b in cells for a, b in g)][:1] or groups[:1]
    for group in groups:
        if not all(a in cells and b in cells for a, b in group):
            continue
        usable += 1
        diffs = [(a, b, diff(a, b)) for a, b in group]
        counted += sum(d.favours_a for _, _, d in diffs) >= rule.per_group(len(group))
        texts += [f"{comparison_text(a, b)}: {d.text()}" for a, b, d in diffs]
        rows += [{"method": a[0], "column": a[1], "minus": b[0], "minus column": b[1], "difference": d.difference,
                  "95% low": d.low, "95% high": d.high, "favours the method": d.favours_a, "findings": d.n_items,
                  "seeds": d.n_seeds} for a, b, d in diffs]
    if not usable:
        return {}
    complete = usable == len(groups) or rule.defined_only
    return {"supported": bool(complete and counted >= rule.need(usable if rule.defined_only else len(groups))),
            "intervals": "; ".join(texts), "comparisons": rows}
