"""The claims ledger (radgazegen.metrics.ledger): a run's verdicts computed from its results as chapter 14
computes them, written at import, and the published chapter 14's table of every claim's verdict
from the richest profile that computed it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radgazegen.metrics import evaluation, ledger, paper_claims
from radgazegen.core.artifacts import Run
from radgazegen.core.intervals import Evidence, save_evidence

MOVED = paper_claims.MOVED_GAZE_CLAIM
POINTING = "Gaze guidance puts the finding where the gaze was (not in the paper: the cohort's test)"


def write_table(run: Run, table: str, claim: str, p_first: float, p_second: float, n: int = 150, seeds: int = 3,
                seed: int = 0) -> None:
    """``results/<table>`` with the cells ``claim``'s support rule compares: each comparison's first
    cell hits with probability ``p_first``, its second with ``p_second`` (per finding and seed)."""
    rng = np.random.default_rng(seed)
    cells = {}
    for group in paper_claims.SUPPORT_RULES[claim].groups:
        for a, b in group:
            cells.setdefault(a, Evidence("mean", "higher", values=(rng.random((seeds, n)) < p_first).astype(float)))
            cells.setdefault(b, Evidence("mean", "higher", values=(rng.random((seeds, n)) < p_second).astype(float)))
    rows = list(dict.fromkeys(r for r, _ in cells))
    columns = list(dict.fromkeys(c for _, c in cells))
    mean = pd.DataFrame({c: [cells[(r, c)].value() if (r, c) in cells else np.nan for r in rows] for c in columns}, index=rows)
    if table == "localisation":  # the mean-based check reads the chance level from its own column
        mean["chance"] = cells[("chance", "hit rate")].value()
    evaluation.save_result(run, table, mean, mean * 0, {"profile": "lesson", "replicates": seeds})
    save_evidence(run.evidence_path(table), cells)


def fake_run(tmp_path: Path, p_first: float) -> Path:
    run_dir = tmp_path / "runs" / "lesson"
    write_table(Run(run_dir), "moved_gaze", MOVED, p_first, 0.2)
    write_table(Run(run_dir), "localisation", POINTING, p_first, 0.2, seed=1)
    (run_dir / "progress.log").write_text(
        "2026-01-01T00:00:00Z machine: commit aaa1111; Python 3.11\n"
        "2026-01-01T00:00:01Z [lesson] 13_gaze_localisation: done in 5.0 s\n"
        "2026-01-01T01:00:00Z machine: commit bbb2222+changes; Python 3.11\n"
        "2026-01-01T01:00:01Z [lesson] 14_results: done in 3.0 s\n")
    return run_dir


def test_a_runs_ledger_gives_each_claim_its_interval_verdict_comparisons_and_commit(tmp_path):
    found = ledger.run_ledger(fake_run(tmp_path, 0.6), "lesson", n_boot=300)
    assert found["profile"] == "lesson" and found["commit"] == "bbb2222+changes"  # the run that finished chapter 14
    claims = {c["id"]: c for c in found["claims"]}
    assert set(claims) == {"moved-gaze", "gaze-pointing"}
    moved = claims["moved-gaze"]
    assert moved["verdict"] == "supported" and moved["point estimates"] == "in the claim's direction"
    assert moved["commit"] == "aaa1111"  # the run of chapter 13, which wrote the table
    first = moved["comparisons"][0]
    rule = paper_claims.SUPPORT_RULES[MOVED].groups[0][0]
    assert first["comparison"] == f"{rule[0][0]} ({rule[0][1]}) − {rule[1][0]} ({rule[1][1]})"  # both terms in full
    assert first["low"] < first["difference"] < first["high"] and first["low"] > 0
    assert (first["findings"], first["seeds"]) == (150, 3) and first["favours the claim"] is True
    json.dumps(found)  # plain JSON: no numpy scalars

    null = {c["id"]: c for c in ledger.run_ledger(fake_run(tmp_path / "null", 0.2), "lesson", n_boot=300)["claims"]}
    assert null["moved-gaze"]["verdict"] == "not supported"


def test_chapter_14_and_the_import_compute_the_same_ledger(tmp_path):
    """The import recomputes from results/ with the functions chapter 14 calls (check_run, of_run)."""
    run_dir = fake_run(tmp_path, 0.5)
    done, last = ledger.chapter_commits(run_dir / "progress.log")
    in_chapter = ledger.of_run(ledger.check_run(Run(run_dir)), "lesson", done, last)
    dest = ledger.import_ledger("lesson", tmp_path / "book" / "lesson" / "claims.json", run_dir)
    assert json.loads(dest.read_text()) == json.loads(json.dumps(in_chapter))


def test_the_import_keeps_a_glued_ledger_and_drops_a_stale_one(tmp_path):
    own = {"format": 1, "profile": "teach", "commit": "ccc3333", "claims": []}
    text = ledger.ledger_text(own)
    glued = {"output_type": "display_data", "metadata": {"scrapbook": {"name": ledger.LEDGER_GLUE, "mime_prefix": "x"}},
             "data": {"application/papermill.record/text/plain": repr(text)}}
    nb = tmp_path / "14_results.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [glued]}], "metadata": {}}))
    dest = tmp_path / "book" / "teach" / "claims.json"
    assert ledger.import_ledger("teach", dest, None, nb) == dest and json.loads(dest.read_text()) == own
    assert ledger.import_ledger("teach", dest, tmp_path / "no-run", tmp_path / "absent.ipynb") is None
    assert not dest.exists()  # the ledger of an earlier run is not left beside this run's chapters
    with pytest.raises(ValueError, match="not 'lesson'"):
        ledger.import_ledger("lesson", dest, None, nb)


def entry(cid: str, verdict: str, n: int = 10) -> dict:
    claim = next(c for c, (i, _) in paper_claims.CLAIMS.items() if i == cid)
    comps = [{"comparison": "A (x) − B (y)", "difference": 0.1, "low": -0.01 if verdict != "supported" else 0.02,
              "high": 0.2, "favours the claim": verdict == "supported", "findings": n, "seeds": 3}]
    return {"id": cid, "claim": claim, "table": "t", "verdict": verdict, "point estimates": "", "estimates": "",
            "commit": "", "comparisons": comps if verdict in ledger.DECIDED else []}


def test_the_richest_profile_that_decides_a_claim_gives_its_verdict():
    ledgers = {
        "smoke": {"format": 1, "profile": "smoke", "commit": "s1",
                  "claims": [entry("moved-gaze", "supported", 4), entry("t1-best-fid", "not supported", 4)]},
        "lesson": {"format": 1, "profile": "lesson", "commit": "l1", "claims": [entry("moved-gaze", "not supported", 113)]},
        "teach": {"format": 1, "profile": "teach", "commit": "t1", "claims": [entry("moved-gaze", "no interval")]},
    }
    best = ledger.best_verdicts(ledgers).set_index("id")
    assert list(best.index[:len(paper_claims.CLAIMS)]) == [i for i, _ in paper_claims.CLAIMS.values()]  # every claim, in order
    assert best.loc["moved-gaze", ["verdict", "profile", "commit"]].tolist() == ["not supported", "lesson", "l1"]
    assert best.loc["moved-gaze", "findings × seeds"] == "113 × 3"
    assert best.loc["t1-best-fid", ["verdict", "profile"]].tolist() == ["not supported", "smoke"]
    assert best.loc["t3-auc", "verdict"] == "not computed"
    wiring = ledger.best_verdicts({"smoke": ledgers["smoke"], "teach": ledgers["teach"]}).set_index("id")
    assert wiring.loc["moved-gaze", ["verdict", "profile"]].tolist() == ["no interval", "teach"]  # smoke decides only alone
    only_teach = ledger.best_verdicts({"teach": ledgers["teach"]}).set_index("id")
    assert only_teach.loc["moved-gaze", ["verdict", "profile"]].tolist() == ["no interval", "teach"]  # undecided, said so

    text = ledger.best_verdicts_markdown(ledgers, "lesson")
    assert "lesson (this page's run, l1)" in text and "smoke (s1)" in text and "| **not computed** |" in text
    assert "A (x) − B (y)" in text and ":class: dropdown" in text
    assert "No claims ledger" in ledger.best_verdicts_markdown({}, "lesson")


def test_the_published_chapter_14_is_refreshed_from_the_committed_ledgers(tmp_path):
    import nbformat

    book = tmp_path / "book"
    (book / "smoke").mkdir(parents=True)
    ledger.write_ledger({"format": 1, "profile": "smoke", "commit": "s1", "claims": [entry("t3-auc", "supported")]},
                        book / "smoke" / ledger.LEDGER_FILE)
    own = {"format": 1, "profile": "lesson", "commit": "l1", "claims": [entry("moved-gaze", "not supported")]}
    glued = nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": repr(ledger.ledger_text(own))},
                                   metadata={"scrapbook": {"name": ledger.LEDGER_GLUE, "mime_prefix": "x"}})
    best = nbformat.v4.new_code_cell("display(...)", metadata={"tags": [ledger.BEST_TAG]})
    best.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "as executed"})]
    glue_cell = nbformat.v4.new_code_cell("glue(...)")
    glue_cell.outputs = [glued]
    nb = nbformat.v4.new_notebook(cells=[glue_cell, best])
    assert ledger.refresh_best_verdicts(nb, book)
    text = nb.cells[1].outputs[0]["data"]["text/markdown"]
    assert "as executed" not in text and "smoke (s1)" in text and "lesson (this page's run, l1)" in text
    assert nb.cells[0].outputs == [glued]  # the page keeps its own ledger
    assert not ledger.refresh_best_verdicts(nbformat.v4.new_notebook(cells=[glue_cell]), book)


def test_commits_come_from_the_runner_start_that_finished_each_chapter(tmp_path):
    assert ledger.chapter_commits(tmp_path / "absent.log") == ({}, "unknown")
    log = tmp_path / "progress.log"
    log.write_text("t machine: commit 1234567; Python\nt [x] 04_sd: done in 1.0 s\nt machine: commit 89abcde+changes; P\n")
    assert ledger.chapter_commits(log) == ({"04_sd": "1234567"}, "89abcde+changes")


def test_the_import_command_writes_the_ledger_beside_the_chapters(tmp_path, capsys):
    """``make lesson-import`` runs ``python -m radgazegen ledger --profile lesson --run <run>``."""
    from radgazegen.__main__ import main

    run_dir, dest = fake_run(tmp_path, 0.6), tmp_path / "book" / "lesson" / "claims.json"
    assert main(["ledger", "--profile", "lesson", "--run", str(run_dir), "--out", str(dest)]) in (0, None)
    written = json.loads(dest.read_text())
    assert written["profile"] == "lesson" and {c["id"] for c in written["claims"]} == {"moved-gaze", "gaze-pointing"}
    assert main(["ledger", "--profile", "lesson", "--run", str(tmp_path / "empty"), "--out", str(dest)]) in (0, None)
    assert not dest.exists() and "no claims ledger for lesson" in capsys.readouterr().out


def test_the_book_build_refreshes_chapter_14s_best_verdicts(tmp_path):
    """``publish.reader_first`` (every chapter the book copies) re-renders the tagged cell from
    the ledgers committed under the book folder it is given."""
    import nbformat

    from radgazegen.study.publish import reader_first

    book = tmp_path / "book"
    ledger.write_ledger({"format": 1, "profile": "teach", "commit": "t9", "claims": [entry("t1-best-fid", "supported")]},
                        book / "teach" / ledger.LEDGER_FILE)
    best = nbformat.v4.new_code_cell("display(...)", metadata={"tags": [ledger.BEST_TAG]})
    best.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "as executed"})]
    src = tmp_path / "14_results.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Results"), best]), str(src))
    page = nbformat.read(str(reader_first(src, tmp_path / "copy.ipynb", book)), as_version=4)
    shown = page.cells[-1].outputs[0]["data"]["text/markdown"]
    assert "teach (t9)" in shown and "as executed" not in shown
    assert "as executed" in src.read_text()  # the executed notebook itself is unchanged


@pytest.mark.slow  # executes chapter 14
def test_chapter_14_executes_on_a_lesson_like_run_and_glues_the_ledger_the_import_writes(tmp_path):
    """Chapter 14 alone (papermill) on a run with Tables 1-5 at the paper's values (no evidence),
    the gaze tests with evidence and the committed lesson run's parameters: its glued ledger is the
    one ``make lesson-import`` computes from the same run; its best-verdicts cell, its own verdicts
    and its generated deviations are in the page."""
    import jupytext
    import papermill as pm

    from radgazegen.metrics.deviations import run_parameters
    from radgazegen.standins.clip import STUDY_CLIP_NAME

    repo = Path(__file__).resolve().parents[1]
    run_dir = fake_run(tmp_path, 0.6)
    for t in ("table1", "table2", "table3", "table4", "table5"):
        m = evaluation.paper_as_ours(t)
        evaluation.save_result(Run(run_dir), t, m, m * 0, {"profile": "lesson", "metric": "FID (study features)",
                                                             "clip": STUDY_CLIP_NAME})
    (run_dir / ".state").mkdir()
    for name, params in run_parameters(repo / "book" / "lesson").items():
        (run_dir / ".state" / f"{name}.json").write_text(json.dumps({"params": params}))
    nb = jupytext.read(repo / "notebooks" / "14_results.py")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(nb, tmp_path / "in.ipynb", fmt="ipynb")
    pm.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "14_results.ipynb"), kernel_name="python3",
                        parameters={"profile": "lesson", "run_dir": str(run_dir)}, cwd=str(repo), progress_bar=False)

    glued = ledger.ledger_of_notebook(tmp_path / "14_results.ipynb")
    imported = ledger.import_ledger("lesson", tmp_path / "claims.json", run_dir)
    assert glued == json.loads(imported.read_text()) and glued["commit"] == "bbb2222+changes"
    executed = json.loads((tmp_path / "14_results.ipynb").read_text())
    outputs = ["".join(o.get("data", {}).get("text/markdown", "")) + "".join(o.get("data", {}).get("text/plain", ""))
               for c in executed["cells"] for o in c.get("outputs", [])]
    best = next(o for c in executed["cells"] if ledger.BEST_TAG in c["metadata"].get("tags", []) for o in c["outputs"])
    assert "lesson (this page's run, bbb2222+changes)" in "".join(best["data"]["text/markdown"])
    page = "\n".join(outputs)
    assert "verdict (95% intervals, lesson)" in page and "a description, not a verdict" in page
    assert 'design "unified"' in page and "64 px" in page and "over the frozen Rad-CN" in page
    assert "HVA-CN (Eq. 5) (gazed box) − HVA-CN (Eq. 5) (shuffled gaze)" in page  # the primary test's model decides


def test_chapter_14_checks_the_tables_of_08_to_13_and_not_15s_which_runs_after_it(tmp_path):
    """A rerun of chapter 14 after chapter 15 (``run --only 14``) reads nothing 15 wrote (the
    runner refuses a read outside the upstream), and a run before 15 does not list its table as
    "not computed"."""
    from radgazegen.core.artifacts import CLAIMS_TABLES, RESULT_WRITERS

    assert "memorisation" not in CLAIMS_TABLES
    assert set(CLAIMS_TABLES) == {t for t, w in RESULT_WRITERS.items() if w < "14"}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "memorisation.csv").write_text("row,column,mean,std\n")
    missing = ledger.check_run(tmp_path).missing
    assert sorted(missing) == sorted(f"results/{t}.csv" for t in CLAIMS_TABLES)
