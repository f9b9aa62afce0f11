"""The claims ledger: one run's verdict on each claim chapter 14 checks, kept beside the
committed chapters (``book/<profile>/claims.json``) so that the published results chapter can
show, per claim, the verdict of the richest profile that computed it.

A run's ledger is computed from its ``results/`` (the tables of chapters 08-13) and their
evidence files by ``check_run`` and ``of_run``: chapter 14 calls them on its own run (and glues
the ledger into its page, ``LEDGER_GLUE``), and ``make lesson-import`` / ``smoke-import``
(``python -m radgazegen ledger``) call the same two on the run directory they import. A run
whose ``results/`` did not travel (``make teach-import``: the GPU machine packs the executed
chapters only) gives the ledger its executed chapter 14 glued (``ledger_of_notebook``).

File format (JSON)::

    {"format": 1, "profile": "lesson", "commit": "890f5a5",   # the run that checked the claims
     "claims": [{"id": "moved-gaze", "claim": "...", "table": "moved_gaze",
                 "verdict": "supported" | "not supported" | "no interval" | "cannot be checked",
                 "point estimates": "in the claim's direction" | "against the claim" | "a cell is missing",
                 "estimates": "RadGazeGen in the gazed box 0.24 vs ...",            # paper_claims.claims' evidence
                 "commit": "890f5a5",                                               # of the chapter that wrote the table
                 "comparisons": [{"comparison": "RadGazeGen (gazed box) − RadGazeGen (shuffled gaze)",
                                  "difference": 0.061, "low": 0.02, "high": 0.10, "favours the claim": true,
                                  "findings": 113, "seeds": 3}, ...]}, ...]}

Only a verdict from the 95% intervals (``supported`` / ``not supported``) counts as a profile
having computed a claim (``best_verdicts``); the point estimates describe, they do not decide.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Profiles from the richest to the poorest: whose verdict on a claim the published book shows first.
RICHNESS = ("full", "teach", "lesson", "smoke")
#: The ledger's file name beside a profile's committed chapters (``book/<profile>/``).
LEDGER_FILE = "claims.json"
#: The glue name under which chapter 14 keeps its own run's ledger (JSON text) in its page.
LEDGER_GLUE = "claims_ledger"
#: The tag of chapter 14's cell that shows every claim's best verdict; ``publish`` re-renders its
#: output from the committed ledgers when the book is built.
BEST_TAG = "claims-best-verdicts"
FORMAT = 1
#: The repository's folder of committed chapters (``book/<profile>/``) and their ledgers.
BOOK = Path(__file__).resolve().parents[2] / "book"
#: The verdicts that decide a claim (from its 95% intervals).
DECIDED = ("supported", "not supported")


@dataclass
class RunResults:
    """One run's results tables and their claims: ``ours[t]``, ``spread[t]`` (mean and std, rows x
    columns), ``info[t]`` per table present (``evaluation.load_result``), ``missing`` (their
    files absent), ``claims`` (``paper_claims.claims`` with the run's evidence: one row per claim)."""
    ours: dict[str, pd.DataFrame] = field(default_factory=dict)
    spread: dict[str, pd.DataFrame] = field(default_factory=dict)
    info: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    claims: pd.DataFrame | None = None


def check_run(run, n_boot: int | None = None) -> RunResults:
    """Read every results table of chapters 08-13 of ``run`` (a ``Run`` or its folder) that exists and check the
    claims on them with their per-finding, per-seed evidence (``paper_claims.claims``; ``n_boot``
    resamples, default ``intervals.N_BOOT``). Chapter 14 and the import both call this."""
    from radgazegen.metrics import evaluation, paper_claims
    from radgazegen.core.artifacts import CLAIMS_TABLES, as_run
    from radgazegen.core.intervals import N_BOOT

    run = as_run(run)
    out = RunResults()
    for t in CLAIMS_TABLES:  # chapters 08-13's, not 15's (it runs after 14)
        try:
            out.ours[t], out.spread[t], out.info[t] = evaluation.load_result(run, t)
        except FileNotFoundError:
            out.missing.append(f"results/{t}.csv")
    evidence = {t: run.read_evidence(t) for t in out.ours}
    out.claims = paper_claims.claims(out.ours, evidence, n_boot=n_boot or N_BOOT)
    return out


def verdict(supported, holds) -> str:
    """A claim's verdict from its 95% intervals: "supported", "not supported", "no interval" (a cell
    it needs has no evidence), "cannot be checked" (a cell it needs is missing)."""
    if not _missing(supported):
        return "supported" if bool(supported) else "not supported"
    return "cannot be checked" if _missing(holds) else "no interval"


def point_estimates(holds) -> str:
    """What the cells' means say, not a verdict: "in the claim's direction", "against the claim"
    or "a cell is missing"."""
    return "a cell is missing" if _missing(holds) else "in the claim's direction" if bool(holds) else "against the claim"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _number(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def of_run(results: RunResults, profile: str, commits: dict[str, str] | None = None, commit: str = "unknown") -> dict:
    """The ledger (module docstring) of one run's checked claims. ``commits``: chapter -> the study
    commit that ran it (``chapter_commits``), for each claim's table writer; ``commit``: the run's."""
    from radgazegen.core.artifacts import RESULT_WRITERS
    from radgazegen.metrics.paper_claims import CLAIMS

    commits = commits or {}
    claims = []
    for _, row in results.claims.iterrows():
        comparisons = [{
            "comparison": f"{c['method']} ({c['column']}) − {c['minus']} ({c.get('minus column', c['column'])})",
            "difference": _number(c["difference"]), "low": _number(c["95% low"]), "high": _number(c["95% high"]),
            "favours the claim": bool(c["favours the method"]), "findings": int(c["findings"]), "seeds": int(c["seeds"]),
        } for c in row["comparisons"]]
        claims.append({
            "id": CLAIMS.get(row["claim"], (row["claim"], row["table"]))[0], "claim": row["claim"], "table": row["table"],
            "verdict": verdict(row["supported"], row["holds"]), "point estimates": point_estimates(row["holds"]),
            "estimates": str(row["evidence"]), "commit": commits.get(RESULT_WRITERS.get(row["table"], ""), commit),
            "comparisons": comparisons,
        })
    return {"format": FORMAT, "profile": profile, "commit": commit, "claims": claims}


def chapter_commits(progress: str | Path) -> tuple[dict[str, str], str]:
    """From a runner's ``progress.log``: chapter -> the study's commit of the runner start that
    finished it (the machine line's "commit <hash>[+changes];"), and the commit of the last runner
    start (the one a chapter running now belongs to). ({}, "unknown") when there is no log."""
    progress = Path(progress)
    if not progress.is_file():
        return {}, "unknown"
    done, commit = {}, "unknown"
    for line in progress.read_text(encoding="utf-8").splitlines():
        if " machine: " in line:
            m = re.search(r"commit (\S+?);", line)
            commit = m.group(1) if m else "unknown"
        m = re.search(r"\] (\d\d_\w+): done in [0-9.]+ s", line)
        if m:
            done[m.group(1)] = commit
    return done, commit


def run_ledger(run_dir: str | Path, profile: str, n_boot: int | None = None) -> dict:
    """The ledger of a finished run directory (``runs/<profile>``): ``check_run`` then ``of_run``,
    the commits from its ``progress.log``; the run's commit is the one that finished chapter 14,
    else the last runner start's."""
    done, last = chapter_commits(Path(run_dir) / "progress.log")
    return of_run(check_run(run_dir, n_boot), profile, done, done.get("14_results", last))


def ledger_of_notebook(path: str | Path) -> dict | None:
    """The ledger an executed chapter 14 glued into its page (``LEDGER_GLUE``), None without one."""
    return glued_ledger(json.loads(Path(path).read_text(encoding="utf-8")))


def glued_ledger(nb) -> dict | None:
    """The ledger glued in notebook ``nb`` (its JSON as a dict, or an ``nbformat`` notebook): the
    glued output's text is the repr of the ledger's one-line JSON text. None without one."""
    import ast

    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if ((out.get("metadata") or {}).get("scrapbook") or {}).get("name") == LEDGER_GLUE:
                text = next((v for k, v in out.get("data", {}).items() if k.endswith("text/plain")), None)
                if text is not None:
                    return json.loads(ast.literal_eval("".join(text)))
    return None


def ledger_text(ledger: dict) -> str:
    """The ledger as one line of JSON, for ``book.glue`` (a string glued is kept as its repr)."""
    return json.dumps(ledger, ensure_ascii=False, separators=(",", ":"))


def import_ledger(profile: str, dest: str | Path, run_dir: str | Path | None = None,
                  notebook: str | Path | None = None, n_boot: int | None = None) -> Path | None:
    """Write ``dest`` (``book/<profile>/claims.json``) for an imported run (``make lesson-import``,
    ``smoke-import``, ``teach-import``): computed from ``run_dir``'s ``results/`` and evidence
    (``run_ledger``: what chapter 14 computes) when they are there, else the ledger glued into
    the executed chapter 14 ``notebook``; with neither, no ledger, and an older ``dest`` is
    removed (it belonged to another run). Returns ``dest``, or None."""
    dest = Path(dest)
    ledger = None
    if run_dir is not None and any((Path(run_dir) / "results").glob("*.csv")):
        ledger = run_ledger(run_dir, profile, n_boot)
    elif notebook is not None and Path(notebook).is_file():
        ledger = ledger_of_notebook(notebook)
    if ledger is None:
        dest.unlink(missing_ok=True)
        return None
    if ledger["profile"] != profile:
        raise ValueError(f"{notebook or run_dir}: a {ledger['profile']!r} run's ledger, not {profile!r}")
    return write_ledger(ledger, dest)


def write_ledger(ledger: dict, dest: str | Path) -> Path:
    """``dest`` (``book/<profile>/claims.json``), written atomically, numbers as JSON numbers."""
    from radgazegen.core.io import write_text

    return write_text(Path(dest), json.dumps(ledger, indent=1, ensure_ascii=False) + "\n")


def committed_ledgers(book_dir: str | Path) -> dict[str, dict]:
    """Profile -> its committed ledger (``book/<profile>/claims.json``), for the profiles that have
    one; a file that is not a ledger is left out, never guessed at."""
    out = {}
    for profile in RICHNESS:
        path = Path(book_dir) / profile / LEDGER_FILE
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") == FORMAT and isinstance(data.get("claims"), list):
                out[profile] = data
    return out


def best_verdicts(ledgers: dict[str, dict]) -> pd.DataFrame:
    """Per claim of chapter 14 (``paper_claims.CLAIMS``, in order; a ledger's claims unknown to it
    after them), the verdict of the richest profile (``RICHNESS``) whose ledger decides it
    (``DECIDED``), else the richest one that has it at all, else "not computed"; smoke's ledger
    (wiring, not science) only for a claim no other profile has. Columns: claim, id,
    verdict, profile, commit, intervals for the claim ("k of m"), findings × seeds (smallest and
    largest over its comparisons), comparisons (the ledger's list)."""
    from radgazegen.metrics.paper_claims import CLAIMS

    order = {c: i for i, (c, _) in enumerate(CLAIMS.values())}
    entries: dict[str, list[tuple[int, str, dict, dict]]] = {}
    for profile, ledger in ledgers.items():
        rank = RICHNESS.index(profile) if profile in RICHNESS else len(RICHNESS)
        for claim in ledger.get("claims", []):
            entries.setdefault(claim["id"], []).append((rank, profile, ledger, claim))
    ids = [i for i, _ in CLAIMS.values()] + sorted(set(entries) - set(order))
    names = {i: c for c, (i, _) in CLAIMS.items()}
    rows = []
    for cid in ids:
        # smoke's numbers prove the wiring, not the science: its verdict only where no other profile has the claim
        others = any(e[1] != "smoke" for e in entries.get(cid, []))
        found = sorted(entries.get(cid, []), key=lambda e: (others and e[1] == "smoke", e[3]["verdict"] not in DECIDED, e[0]))
        if not found:
            rows.append({"claim": names.get(cid, cid), "id": cid, "verdict": "not computed", "profile": "", "commit": "",
                         "intervals for the claim": "", "findings × seeds": "", "comparisons": []})
            continue
        _, profile, ledger, claim = found[0]
        comps = claim.get("comparisons", [])
        sizes = sorted({(c["findings"], c["seeds"]) for c in comps}, key=lambda s: s[0] * s[1])
        rows.append({
            "claim": claim["claim"], "id": cid, "verdict": claim["verdict"], "profile": profile,
            "commit": claim.get("commit") or ledger.get("commit", "unknown"),
            "intervals for the claim": f"{sum(c['favours the claim'] for c in comps)} of {len(comps)}" if comps else "",
            "findings × seeds": " to ".join(dict.fromkeys(f"{n} × {s}" for n, s in (sizes[:1] + sizes[-1:]))),
            "comparisons": comps,
        })
    return pd.DataFrame(rows)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def best_verdicts_markdown(ledgers: dict[str, dict], shown_profile: str) -> str:
    """``best_verdicts`` as the Markdown chapter 14 displays (and ``publish`` re-renders at the
    book's build): one table, claim, verdict and where it comes from, then per decided claim its
    comparisons in a folded box, each "A (column) − B (column)" with the difference and its 95%
    interval. ``shown_profile``: the profile of the page it appears on (named as "this run")."""
    best = best_verdicts(ledgers)
    if not ledgers:
        return ("No claims ledger is committed (`book/<profile>/claims.json`, written by `make lesson-import`, "
                "`make teach-import` or `make smoke-import`), and this run checked no claim.")
    g = lambda v: "n/a" if v is None else f"{v:+.3g}"
    lines = ["| claim | verdict (95% intervals) | from the run of | intervals for the claim | findings × seeds |",
             "| --- | --- | --- | --- | --- |"]
    for _, r in best.iterrows():
        where = "" if not r["profile"] else (f"{r['profile']} (this page's run, {r['commit']})"
                                             if r["profile"] == shown_profile else f"{r['profile']} ({r['commit']})")
        lines.append(f"| {_cell(r['claim'])} | **{r['verdict']}** | {where} | {r['intervals for the claim']} | "
                     f"{r['findings × seeds']} |")
    for _, r in best.iterrows():
        if not r["comparisons"]:
            continue
        lines += ["", f":::{{admonition}} {_cell(r['claim'])}: the {r['profile']} run's comparisons", ":class: dropdown",
                  "", "| comparison | difference [95% interval] | interval favours the claim | findings × seeds |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {_cell(c['comparison'])} | {g(c['difference'])} [{g(c['low'])}, {g(c['high'])}] | "
                  f"{'yes' if c['favours the claim'] else 'no'} | {c['findings']} × {c['seeds']} |" for c in r["comparisons"]]
        lines.append(":::")
    return "\n".join(lines) + "\n"


def book_ledgers(own: dict | None, book_dir: str | Path | None = None) -> dict[str, dict]:
    """The ledgers a page of profile ``own["profile"]`` draws on: the committed ones
    (``committed_ledgers``, under ``book_dir``, default the repository's ``book/``), its own
    run's in place of its profile's committed one."""
    ledgers = committed_ledgers(book_dir or BOOK)
    if own is not None:
        ledgers[own["profile"]] = own
    return ledgers


def refresh_best_verdicts(nb: Any, book_dir: str | Path | None = None) -> bool:
    """Re-render, in the executed chapter 14 ``nb`` (an ``nbformat`` notebook), the output of the
    cell tagged ``BEST_TAG`` from the ledgers committed under ``book_dir`` and the page's own
    (glued) ledger, so that a built book shows the richest verdicts committed at build time, not
    those committed when the chapter ran. True when the notebook has such a cell."""
    import nbformat

    cells = [c for c in nb.cells if c.cell_type == "code" and BEST_TAG in c.metadata.get("tags", [])]
    if not cells:
        return False
    own = glued_ledger(nb)
    profile = own["profile"] if own else str(((nb.metadata.get("papermill") or {}).get("parameters") or {}).get("profile", ""))
    text = best_verdicts_markdown(book_ledgers(own, book_dir), profile)
    for cell in cells:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": text, "text/plain": text})]
    return True
