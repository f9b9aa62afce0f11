"""The results chapter's page (chapter 14): the paper's five tables it shows, the claims table
(this run's verdict from 95% intervals beside its point estimates and the paper's own numbers),
what each profile can and cannot say, and the counts its closing paragraph glues. The claims
themselves are checked by ``ledger`` and ``paper_claims``; this module only renders them."""
from __future__ import annotations

import pandas as pd

from radgazegen.core.intervals import N_BOOT, N_BOOT_FID
from radgazegen.metrics import ledger

#: The paper's tables, in order, and the titles chapter 14 gives them.
PAPER_TABLES = {"table1": "Table 1: FID per control and method", "table2": "Table 2: controllability and CLIP score",
                "table3": "Table 3: AUC (%) on CheXpert-test images", "table4": "Table 4: long-tailed classification",
                "table5": "Table 5: ablation"}

#: What a profile's verdicts can say, and what they cannot (chapter 14's closing paragraph).
PROFILE_STATEMENTS = {
    "smoke": "The smoke profile trains tiny models for a few CPU steps on a small synthetic cohort and evaluates a "
             "handful of test items. Its verdicts show that every table and claim is computed end to end; they "
             "say nothing about whether the paper's claims are true.",
    "teach": "The teach profile trains small models from scratch on the synthetic cohort and repeats generation "
             "with several seeds. Its verdicts test the claims' direction on data whose ground truth is known; they do "
             "not reproduce the paper's values, which were measured on real radiographs with Stable Diffusion v1.5, "
             "Inception and CLIP features and TorchXRayVision's classifier.",
    "lesson": "The lesson profile runs the chapters of the central claim on a 2-core CPU: small models trained "
              "from scratch for minutes on the synthetic cohort at low resolution, every test finding with gaze generated with "
              "two seeds, and chapter 13's primary test (the mirrored gaze, three seeds), with the parts of Tables 2 and 5 "
              "its models answer. Its verdicts concern those, against the cohort's known lesion boxes; Tables 1, 3 and 4 "
              "are not computed.",
    "full": "The full profile follows the paper's configuration on the real datasets; differences from the paper's "
            "values come from the weights and metric models that were available (named in each table).",
}


def claims_summary(run_claims: pd.DataFrame, on_paper: pd.DataFrame, profile: str) -> pd.DataFrame:
    """One row per claim this run checked (``run_claims``, indexed by claim, from
    ``ledger.check_run``): its table, its verdict from the 95% intervals, a description of this
    run's point estimates (not a verdict) and the same check on the paper's own numbers
    (``on_paper``: ``paper_claims.claims`` of the paper's tables, indexed by claim). Used by
    chapter 14."""
    return pd.DataFrame({
        "table": run_claims["table"],
        f"verdict (95% intervals, {profile})": [ledger.verdict(s, h) for s, h in zip(run_claims["supported"], run_claims["holds"])],
        f"this run's point estimates ({profile}; a description, not a verdict)": [
            f"{ledger.point_estimates(h)}: {e}" for h, e in zip(run_claims["holds"], run_claims["evidence"])],
        "on the paper's own numbers": [f"{ledger.point_estimates(on_paper['holds'].get(c))}: {on_paper['evidence'].get(c)}"
                                       if c in on_paper.index else "(not in the paper)" for c in run_claims.index],
    })


def _known(x) -> bool:
    return x is not None and not pd.isna(x)


def page_values(profile: str, ours: dict, info: dict, run_claims: pd.DataFrame, on_paper: pd.DataFrame,
                tables: dict = PAPER_TABLES) -> dict:
    """The values chapter 14 glues: the profile and its statement, the bootstrap resamples, how
    many of the paper's tables this run computed, how many claims it checked, how many the
    paper's own numbers and this run's point estimates bear out, how many are supported by
    their intervals, and the most seed replicates of any table (``info``: per table its
    metadata). Used by chapter 14."""
    in_paper = [c for c in run_claims.index if c in on_paper.index]
    return {
        "profile": profile, "profile_statement": PROFILE_STATEMENTS[profile], "n_boot": N_BOOT, "n_boot_fid": N_BOOT_FID,
        "n_tables": sum(t in ours for t in tables), "n_paper_tables": len(tables), "n_claims": len(run_claims),
        "n_claims_paper": len(in_paper),
        "n_hold_paper": int(sum(bool(on_paper.loc[c, "holds"]) for c in in_paper if not pd.isna(on_paper.loc[c, "holds"]))),
        "n_hold_run": int(sum(bool(h) for h in run_claims["holds"] if _known(h))),
        "n_checkable_run": int(sum(_known(h) for h in run_claims["holds"])),
        "n_supported": int(sum(bool(x) for x in run_claims["supported"] if _known(x))),
        "n_with_intervals": int(sum(_known(x) for x in run_claims["supported"])),
        "n_replicates": max((i.get("replicates", 1) for i in info.values()), default=1),
    }
