"""End to end: the smoke profile's notebooks with papermill, then the Jupyter Book build.

This is the README's main job, run into a temporary run folder so that it always starts
from scratch (``smoke_study``, tests/conftest.py: once per test session). The same profile
run a second time, interrupted three times on the way, must give the same numbers and
figures: tests/test_smoke_again.py, on the other worker.
"""
from __future__ import annotations

import json
import re
import shutil

import nbformat
import pytest

from radgazegen.study.publish import build_book
from radgazegen.study.runner import Study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(smoke_study) -> Study:
    return smoke_study


def test_every_smoke_notebook_ran_cleanly(smoke):
    steps = smoke.resolve("smoke")
    assert [s.name for s in steps][:2] == ["00_synthetic_cohort", "01_data_preparation"]
    for step in steps:
        assert smoke.is_current("smoke", step), step.name
        nb = nbformat.read(smoke.executed("smoke", step.name), as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"], step.name
        # progress bars go to the run's log, and no warning reaches the page (fixed at its cause)
        stderr = ["".join(o.get("text", ""))[:200] for o in outputs if o.get("name") == "stderr"]
        assert not stderr, (step.name, stderr[:3])
        assert nb.metadata["papermill"]["parameters"]["profile"] == "smoke"
        # The profile banner is the first thing a reader sees.
        assert "Profile: smoke" in json.dumps(outputs[:3]), step.name


def test_data_preparation_shows_figures_and_the_split(smoke):
    nb = nbformat.read(smoke.executed("smoke", "01_data_preparation"), as_version=4)
    pngs = [o for c in nb.cells for o in c.get("outputs", []) if any(k.endswith("image/png") for k in o.get("data", {}))]
    assert len(pngs) >= 3  # readings with gaze, a timeline, the long tail (at least), glued for their captions
    split = (smoke.run_dir("smoke") / "01_data_preparation" / "split.csv").read_text().splitlines()
    assert split[0] == "dicom_id,split,gaze_source,reading_ids,n_readers"
    assert any(",test," in row for row in split) and any(",train," in row for row in split)


def test_progress_is_in_the_runs_log(smoke):
    log = smoke.run_dir("smoke") / "logs" / "04_sd_cxr.log"
    # tqdm's training bar, run to its end (steps done = steps planned), in the chapter's log
    assert log.is_file() and re.search(r"training: 100%\|#+\| (\d+)/\1 ", log.read_text())


def test_second_run_skips_everything(smoke):
    results = smoke.run("smoke", log=lambda *_: None)
    assert {status for _, status, _ in results} == {"skipped"}


def test_book_builds_with_the_executed_chapters(smoke):
    index = build_book("smoke", study=smoke, source=smoke.run_dir("smoke") / "notebooks")
    html = index.parent
    chapter = html / "book" / "chapters" / "01_data_preparation.html"
    assert chapter.exists()
    text = chapter.read_text()
    assert "Data preparation" in text and "Profile: smoke" in text and "<img" in text
    # reader-first: the parameters once, as a table; the parameter cells gone; inputs behind a toggle
    assert "Parameters of this run" in text and "(set by the runner)" not in text and "# Parameters" not in text
    assert "tag_hide-input" in text
    pages = {f.name: f.read_text() for f in (html / "book" / "chapters").glob("*.html")}
    assert not [n for n, t in pages.items() if str(smoke.runs) in t or "site-packages" in t]  # no machine path
    assert "book/intro.html" in index.read_text()  # the landing page redirects to the introduction
    for name, page in pages.items():  # what a reader sees, over the built HTML (issue 13)
        if name.startswith("9"):  # the run-record pages: no notebook
            continue
        assert 'class="output stderr"' not in page, f"{name}: a stderr block (progress bar or warning) is rendered"
        assert not re.search(r"\d+ rows × \d+ columns|<th>\.\.\.</th>", page), f"{name}: a pandas table is truncated"
        assert "Profile: smoke" in page and "What this run shows" in page and "What it cannot show" in page, name
        figures = re.findall(r"<figure.*?</figure>", page, re.DOTALL)
        assert page.count("<img ") == sum(f.count("<img ") for f in figures), f"{name}: an image outside a figure"
        assert all("<figcaption" in f for f in figures), f"{name}: a figure without a caption"
    assert "Four profiles, one code path" in (html / "book" / "intro.html").read_text()
    if any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):  # laid out in a browser
        from radgazegen.study.screenshots import book_pages, wide_elements

        assert wide_elements(book_pages(html)) == {}, "an equation, output or table is wider than the column"


def test_table_notebooks_write_results_and_the_results_chapter_checks_the_claims(smoke):
    run = smoke.run_dir("smoke")
    for table in ("table1", "table2", "table3", "table4", "table5", "localisation"):
        long = (run / "results" / f"{table}.csv").read_text().splitlines()
        assert long[0] == "row,column,mean,std" and len(long) > 2, table
    nb = nbformat.read(smoke.executed("smoke", "14_results"), as_version=4)
    text = json.dumps([o for c in nb.cells for o in c.get("outputs", [])])
    assert "this run (smoke)" in text and "on the paper" in text
    assert "best on 3 of 5 controls" in text  # the paper's own Table 1, checked against its text
