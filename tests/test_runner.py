"""The papermill runner: caching, parameter overrides and checks, failures."""
from __future__ import annotations

import json
import re
import os
import textwrap
from pathlib import Path

import nbformat
import pytest

from radgazegen.study.runner import STEP_VARIABLE, RunnerError, StepFailed, Study

pytestmark = pytest.mark.slow  # executes notebooks with papermill (left out of `make check`)


HEADER = """\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
{extra}# ---
"""


def notebook(body: str, extra: str = "") -> str:
    return HEADER.format(extra=extra) + textwrap.dedent(body)


PRODUCER = notebook('''
# %% tags=["parameters"]
profile: str = "x"  # profile
run_dir: str = "."  # run directory
n: int = 3  # how many numbers to write

# %%
from pathlib import Path
Path(run_dir, "numbers.txt").write_text(" ".join(str(i * i) for i in range(n)))
print("wrote", n)
''')

CONSUMER = notebook('''
# %% tags=["parameters"]
profile: str = "x"  # profile
run_dir: str = "."  # run directory
scale: float = 1.0  # multiplier

# %%
import json, os
from pathlib import Path

def use(name, path, writer):
    """Record a read as radgazegen.core.artifacts does (the runner names the step)."""
    log = Path(run_dir, ".state", "reads", os.environ["RADGAZEGEN_STEP"] + ".json")
    log.parent.mkdir(parents=True, exist_ok=True)
    reads = json.loads(log.read_text()) if log.exists() else {}
    reads[name] = {"path": path, "writer": writer}
    log.write_text(json.dumps(reads))
    return Path(run_dir, path)

total = scale * sum(int(v) for v in use("numbers", "numbers.txt", "00_produce").read_text().split())
print("total", total)
''')

FAILING = notebook('''
# %% tags=["parameters"]
profile: str = "x"  # profile
run_dir: str = "."  # run directory

# %%
print("before the failure")

# %%
raise ValueError("deliberate failure for the test")
''')

INDEPENDENT = notebook('''
# %% tags=["parameters"]
profile: str = "x"  # profile
run_dir: str = "."  # run directory

# %%
print("independent")
''', extra="#   radgazegen:\n#     upstream: []\n")


@pytest.fixture()
def study(tmp_path: Path) -> Study:
    nb, params = tmp_path / "notebooks", tmp_path / "params" / "p"
    nb.mkdir()
    params.mkdir(parents=True)
    (nb / "00_produce.py").write_text(PRODUCER)
    (nb / "01_consume.py").write_text(CONSUMER)
    (nb / "02_side.py").write_text(INDEPENDENT)
    (params / "00_produce.yml").write_text("n: 4\n")
    (params / "01_consume.yml").write_text("scale: 2.0\n")
    (params / "02_side.yml").write_text("{}\n")
    return Study(notebooks=nb, params=tmp_path / "params", runs=tmp_path / "runs")


def statuses(results):
    return {name: status for name, status, _ in results}


def output_text(study: Study, name: str) -> str:
    nb = nbformat.read(study.executed("p", name), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_runs_in_order_then_skips_unchanged(study):
    first = statuses(study.run("p", log=lambda *_: None))
    assert first == {"00_produce": "ran", "01_consume": "ran", "02_side": "ran"}
    assert "total 28.0" in output_text(study, "01_consume")  # 2 * (0 + 1 + 4 + 9)
    second = statuses(study.run("p", log=lambda *_: None))
    assert second == {"00_produce": "skipped", "01_consume": "skipped", "02_side": "skipped"}


def test_parameter_change_reruns_the_step_and_its_dependents_only(study):
    study.run("p", log=lambda *_: None)
    again = statuses(study.run("p", overrides=["n=2"], log=lambda *_: None))
    # 02_side declares no upstream, so a change to 00 does not touch it.
    assert again == {"00_produce": "ran", "01_consume": "ran", "02_side": "skipped"}
    assert "total 2.0" in output_text(study, "01_consume")
    state = json.loads(study.state_file("p", "00_produce").read_text())
    assert state["params"]["n"] == 2


def test_source_change_reruns(study):
    study.run("p", log=lambda *_: None)
    path = study.notebooks / "01_consume.py"
    path.write_text(path.read_text().replace('print("total", total)', 'print("total is", total)'))
    again = statuses(study.run("p", log=lambda *_: None))
    assert again == {"00_produce": "skipped", "01_consume": "ran", "02_side": "skipped"}


def test_only_runs_selected_step_and_stale_upstream(study):
    got = statuses(study.run("p", only=["01"], log=lambda *_: None))
    assert got == {"00_produce": "ran", "01_consume": "ran"}
    assert statuses(study.run("p", only=["01"], log=lambda *_: None)) == {"01_consume": "skipped"}


def test_failure_stops_the_run_and_keeps_the_partial_output(study):
    (study.notebooks / "01_consume.py").write_text(FAILING)
    (study.params / "p" / "01_consume.yml").write_text("{}\n")
    with pytest.raises(StepFailed) as info:
        study.run("p", log=lambda *_: None)
    assert "ValueError" in str(info.value) and "deliberate failure" in str(info.value)
    partial = info.value.partial
    assert partial.exists() and partial.name == "01_consume.failed.ipynb"
    text = json.dumps(nbformat.read(partial, as_version=4).dict())
    assert "before the failure" in text and "deliberate failure for the test" in text
    assert not study.executed("p", "01_consume").exists()
    assert not study.state_file("p", "01_consume").exists()
    assert not study.executed("p", "02_side").exists()  # the run stopped at the failure
    assert study.executed("p", "00_produce").exists()  # earlier results are kept


def test_progress_log_records_each_chapter_and_the_one_that_stopped(study, tmp_path):
    """A later command (e.g. on a GPU machine after a time limit) reads how far a run got."""
    from radgazegen.study.publish import run_record_page

    study.run("p", log=lambda *_: None)
    (study.notebooks / "01_consume.py").write_text(FAILING)
    (study.params / "p" / "01_consume.yml").write_text("{}\n")
    with pytest.raises(StepFailed):
        study.run("p", log=lambda *_: None)
    every = (study.run_dir("p") / "progress.log").read_text().splitlines()
    assert re.fullmatch(r"\S+Z machine: commit \S+; Python [0-9.]+; torch .*; CPU .* x \d+( \((AVX-512|AVX2|no AVX2)\))?; GPU .*", every[0])
    lines = [ln for ln in every if " machine: " not in ln]  # one machine line per runner start
    assert [ln.split(" ", 1)[1] for ln in lines[:2]] == ["[p] 00_produce: running (never run)",
                                                         lines[1].split(" ", 1)[1]]
    assert re.fullmatch(r"\S+Z \[p\] 00_produce: done in [0-9.]+ s", lines[1])
    assert "[p] 00_produce: up to date, skipped" in lines[-3]
    assert re.search(r"\[p\] 01_consume: stopped after [0-9.]+ s \(StepFailed\)$", lines[-1])
    page = run_record_page("p", study.run_dir("p") / "notebooks", tmp_path / "record.md").read_text()
    assert "| 00_produce |" in page and "| 02_side |" in page  # the last finished time of each chapter
    assert "| 1 |" in page and "1. commit " in page  # and the machine that finished it


@pytest.mark.parametrize("text, message", [
    ("n: [1, 2\n", r"01_consume\.yml, line 2, column 1: expected ',' or ']'"),
    ("n: 1\nn: 2\n", r"01_consume\.yml, line 2, column 1: key 'n' given twice \(first on line 1\)"),
    ("n: .inf\n", r"01_consume\.yml, line 1: parameter 'n' is inf, not a finite number"),
    ("- 1\n", r"01_consume\.yml: expected a mapping of parameter: value, got list"),
])
def test_a_bad_parameters_file_is_one_line_naming_file_line_and_key(study, text, message):
    (study.params / "p" / "01_consume.yml").write_text(text)
    with pytest.raises(RunnerError, match=message) as info:
        study.resolve("p")
    assert "\n" not in str(info.value)


def test_a_second_runner_on_the_same_run_directory_is_refused_and_a_killed_one_leaves_no_lock(study):
    import signal
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from radgazegen.study.runlock import RunLock; "
         "lock = RunLock(sys.argv[1]).__enter__(); print('locked', flush=True); time.sleep(120)", str(study.run_dir("p"))],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunnerError, match=rf"another runner is running this profile \(pid {holder.pid} on .* since "):
            study.run("p", log=lambda *_: None)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert statuses(study.run("p", log=lambda *_: None))["00_produce"] == "ran"  # the OS released the lock


def test_wrong_parameter_type_is_named(study):
    with pytest.raises(RunnerError, match=r"'n' expects int, got str"):
        study.resolve("p", ["n=lots"])


def test_unknown_parameter_is_named(study):
    with pytest.raises(RunnerError, match="no notebook of profile 'p' declares"):
        study.resolve("p", ["nonexistent=1"])
    (study.params / "p" / "00_produce.yml").write_text("typo_n: 4\n")
    with pytest.raises(RunnerError, match="'typo_n' is not declared by 00_produce.py"):
        study.resolve("p")


def test_unknown_profile(study):
    with pytest.raises(RunnerError, match="unknown profile 'nope'"):
        study.steps("nope")


def test_notebook_specific_override(study):
    steps = {s.name: s for s in study.resolve("p", ["01_consume.scale=0.5"])}
    assert steps["01_consume"].params["scale"] == 0.5
    assert steps["00_produce"].params["n"] == 4


def test_reads_are_recorded_under_the_step_name_and_the_variable_is_restored(study):
    before = os.environ.get(STEP_VARIABLE)
    study.run("p", log=lambda *_: None)
    assert os.environ.get(STEP_VARIABLE) == before
    reads = json.loads(study.reads_file("p", "01_consume").read_text())
    assert reads == {"numbers": {"path": "numbers.txt", "writer": "00_produce"}}
    state = json.loads(study.state_file("p", "01_consume").read_text())
    assert set(state["reads"]) == {"numbers"} and len(state["reads"]["numbers"]["sha256"]) == 64
    assert not study.reads_file("p", "02_side").exists() and state["format"] == 2
    assert json.loads(study.state_file("p", "02_side").read_text())["reads"] == {}


def test_state_of_the_previous_format_is_stale(study):
    study.run("p", log=lambda *_: None)
    study.state_file("p", "02_side").write_text(json.dumps({"key": "0123456789abcdef", "notebook": "02_side"}))
    assert dict(study.status("p"))["02_side"] == "stale: state from an older runner"
    assert dict(study.status("p"))["00_produce"] == "current"


def test_only_the_package_modules_a_notebook_imports_matter(tmp_path):
    """Edits to a module the notebook does not import (directly or transitively) leave it
    current, and so do docstring and comment edits; code edits to one it imports, or to a data
    file that module names, make it stale."""
    pkg = tmp_path / "lib" / "fakepkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": '"""A fake study package."""\n',
        "a.py": '"""Imports b relatively."""\nfrom . import b\n',
        "b.py": 'from pathlib import Path\nfrom fakepkg.sub import c\nTABLE = Path(__file__).with_name("table.yaml")\n',
        "sub/__init__.py": "",
        "sub/c.py": '"""Leaf."""\nX = 1\n',
        "unrelated.py": '"""Not imported by anything."""\n',
        "table.yaml": "x: 1\n",
        "other.yaml": "y: 2\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    nb, params = tmp_path / "notebooks", tmp_path / "params" / "p"
    nb.mkdir()
    params.mkdir(parents=True)
    (nb / "00_uses_a.py").write_text(notebook('''
    # %% tags=["parameters"]
    profile: str = "x"  # profile
    run_dir: str = "."  # run directory

    # %%
    def never_called():
        from fakepkg import a  # a static dependency: the kernel never imports it
        return a
    '''))
    (params / "00_uses_a.yml").write_text("{}\n")
    study = Study(notebooks=nb, params=tmp_path / "params", runs=tmp_path / "runs", package=pkg)
    assert set(study.resolve("p")[0].modules) == {"fakepkg", "fakepkg.a", "fakepkg.b", "fakepkg.sub", "fakepkg.sub.c"}
    study.run("p", log=lambda *_: None)
    assert study.status("p") == [("00_uses_a", "current")]

    (pkg / "unrelated.py").write_text('"""Reworded docstring of a module nobody imports."""\n')
    (pkg / "other.yaml").write_text("y: 3\n")
    (pkg / "new_module.py").write_text("Z = 0\n")
    assert study.status("p") == [("00_uses_a", "current")]

    (pkg / "sub" / "c.py").write_text('"""Leaf, reworded."""\nX = 1  # a comment\n')  # imported through a -> b -> c
    assert study.status("p") == [("00_uses_a", "current")]  # docstrings and comments: nothing to rerun
    (pkg / "sub" / "c.py").write_text('"""Leaf."""\nX = 2\n')
    assert study.status("p") == [("00_uses_a", "stale: fakepkg.sub.c changed")]
    (pkg / "sub" / "c.py").write_text(files["sub/c.py"])  # content, not time, decides
    assert study.status("p") == [("00_uses_a", "current")]
    (pkg / "table.yaml").write_text("x: 2\n")  # a data file b names
    assert study.status("p") == [("00_uses_a", "stale: fakepkg.b changed")]
    assert statuses(study.run("p", log=lambda *_: None)) == {"00_uses_a": "ran"}
    assert study.status("p") == [("00_uses_a", "current")]


def test_shared_study_constants_are_set_once(study):
    """params/<profile>/_study.yml: one value for every notebook declaring the key, set in one file."""
    (study.params / "p" / "00_produce.yml").write_text("{}\n")
    (study.params / "p" / "_study.yml").write_text("n: 7\n")
    steps = {s.name: s for s in study.resolve("p")}
    assert steps["00_produce"].params["n"] == 7 and "n" not in steps["01_consume"].params
    (study.params / "p" / "00_produce.yml").write_text("n: 4\n")
    with pytest.raises(RunnerError, match=r"00_produce\.yml: \['n'\] already set in .*_study\.yml; set each once"):
        study.resolve("p")
    (study.params / "p" / "00_produce.yml").write_text("{}\n")
    (study.params / "p" / "_study.yml").write_text("n: 7\nsigma: 3\n")
    with pytest.raises(RunnerError, match=r"_study\.yml: no notebook of profile 'p' declares \['sigma'\]"):
        study.resolve("p")


def test_real_notebooks_depend_on_the_modules_they_import():
    steps = {s.name: s for s in Study().resolve("smoke")}
    controls = steps["02_control_maps"].modules
    assert {"radgazegen", "radgazegen.controls", "radgazegen.controls.gaze", "radgazegen.synthetic.phantom"} <= set(controls)
    assert "radgazegen.core.paper" in steps["14_results"].modules  # which names paper_values.yaml
    assert not any("radgazegen.study.bench" in s.modules for s in steps.values())  # no chapter imports it


def test_downstream_follows_the_content_of_what_it_read(study):
    study.run("p", log=lambda *_: None)
    produce = study.notebooks / "00_produce.py"
    produce.write_text(produce.read_text().replace('print("wrote", n)', 'print("wrote", n, "numbers")'))
    assert dict(study.status("p")) == {
        "00_produce": "stale: source changed",
        "01_consume": "stale: upstream 00_produce is stale",
        "02_side": "current",
    }
    # 00 re-runs and rewrites numbers.txt with the same bytes: 01 stays current
    again = statuses(study.run("p", log=lambda *_: None))
    assert again == {"00_produce": "ran", "01_consume": "skipped", "02_side": "skipped"}
    # different content: 01 is stale, naming the artifact
    study.run("p", only=["00"], overrides=["n=5"], log=lambda *_: None)
    assert dict(study.status("p", ["n=5"]))["01_consume"] == "stale: numbers.txt changed"
    assert dict(study.status("p", ["n=5"]))["02_side"] == "current"
    assert statuses(study.run("p", overrides=["n=5"], log=lambda *_: None))["01_consume"] == "ran"
    assert "total 60.0" in output_text(study, "01_consume")  # 2 * (0 + 1 + 4 + 9 + 16)
    (study.run_dir("p") / "numbers.txt").unlink()
    assert dict(study.status("p", ["n=5"]))["01_consume"] == "stale: numbers.txt is missing"


def test_a_read_outside_the_declared_upstream_is_refused(study):
    side = study.notebooks / "02_side.py"
    reader = CONSUMER.replace("#     name: python3\n", "#     name: python3\n#   radgazegen:\n#     upstream: []\n")
    assert "upstream: []" in reader
    # a writer that is not a step of the profile is an external input: allowed, and tracked
    (study.run_dir("p")).mkdir(parents=True)
    (study.run_dir("p") / "numbers.txt").write_text("1 2")
    side.write_text(reader.replace('"00_produce"', '"00_synthetic_cohort"'))
    (study.params / "p" / "02_side.yml").write_text("{}\n")
    assert statuses(study.run("p", only=["02"], log=lambda *_: None)) == {"02_side": "ran"}
    assert dict(study.status("p"))["02_side"] == "current"
    (study.run_dir("p") / "numbers.txt").write_text("1 2 3")
    assert dict(study.status("p"))["02_side"] == "stale: numbers.txt changed"
    # written by a step of the profile that is not upstream of 02: a one-line error
    side.write_text(reader)
    with pytest.raises(RunnerError) as info:
        study.run("p", log=lambda *_: None)
    message = str(info.value)
    assert "\n" not in message
    assert "02_side.py" in message and "'numbers'" in message and "00_produce" in message
    assert "add it to radgazegen.upstream" in message
    assert not study.state_file("p", "02_side").exists()
    assert not study.executed("p", "02_side").exists()
    assert dict(study.status("p"))["02_side"] == "stale: never run"
    assert study.executed("p", "01_consume").exists()  # its own declared upstream: fine


def test_project_notebooks_declare_documented_parameters():
    """Every notebook of the study has a tagged parameters cell with a comment per parameter,
    and every profile's parameter files name only declared parameters of the right type."""
    real = Study()
    for profile in real.profiles():
        for step in real.resolve(profile):
            from radgazegen.study.runner import declared_parameters

            declared = declared_parameters(step.path)
            assert {"profile", "run_dir"} <= set(declared), step.path
            undocumented = [k for k, v in declared.items() if not v["help"]]
            assert not undocumented, f"{step.path}: parameters without a comment: {undocumented}"


def test_the_published_edition_takes_each_chapter_from_the_richest_profile(study, tmp_path):
    """``make book``: per chapter book/teach/, else book/lesson/, else smoke; running copies ignored."""
    from radgazegen.study.publish import published_sources, run_record_page

    book = tmp_path / "book"
    for profile, names in {"teach": ["00_a", "01_b.running"], "lesson": ["00_a", "01_b", "02_c"], "smoke": ["03_d"]}.items():
        (book / profile).mkdir(parents=True)
        for name in names:
            (book / profile / f"{name}.ipynb").write_text("{}")
    (book / "teach" / "progress.log").write_text(
        "2026-01-01T00:00:00Z [teach] 00_a: done in 12.5 s\n2026-01-01T00:00:00Z [teach] 09_z: done in 3.0 s\n")
    sources = published_sources(study, book)
    assert {name: profile for name, (profile, _) in sources.items()} == {
        "00_a": "teach", "01_b": "lesson", "02_c": "lesson", "03_d": "smoke"}
    page = run_record_page("teach", book / "teach", tmp_path / "r.md", chapters=["00_a"]).read_text()
    assert "| 00_a | 12.5 |" in page and "09_z" not in page and "teach chapters" in page
    assert "Training speed" not in page  # no benchmark lines, no section


def test_an_incomplete_committed_run_ranks_after_a_complete_one(study, tmp_path):
    """``make book``: a richer profile whose committed run lacks a chapter its parameters run (teach
    stopped by a GPU deadline after 01) gives way to a complete one (lesson) on every chapter they
    share, and fills only the chapters no complete run has."""
    from radgazegen.study.publish import committed_complete, published_order, published_sources

    for profile, names in {"teach": ["00_produce", "01_consume", "02_side"], "lesson": ["00_produce", "02_side"]}.items():
        (study.params / profile).mkdir()
        for name in names:
            (study.params / profile / f"{name}.yml").write_text("{}\n")
    book = tmp_path / "book"
    for profile, names in {"teach": ["00_produce", "01_consume", "03_extra"], "lesson": ["00_produce", "02_side"]}.items():
        (book / profile).mkdir(parents=True)
        for name in names:
            (book / profile / f"{name}.ipynb").write_text("{}")
    assert not committed_complete("teach", study, book) and committed_complete("lesson", study, book)
    assert not committed_complete("smoke", study, book)  # no parameters: never complete
    assert published_order(study, book) == ["lesson", "full", "teach", "smoke"]
    sources = published_sources(study, book)
    assert {name: profile for name, (profile, _) in sources.items()} == {
        "00_produce": "lesson", "02_side": "lesson", "01_consume": "teach", "03_extra": "teach"}
    (study.params / "lesson" / "01_consume.yml").write_text("{}\n")  # lesson's profile outgrew its committed run
    assert not committed_complete("lesson", study, book) and published_order(study, book)[0] == "full"
    (book / "lesson" / "14_results.ipynb").write_text("{}")  # but that run reached its end, and teach's did not
    assert published_order(study, book) == ["lesson", "full", "teach", "smoke"]
    (book / "teach" / "02_side.ipynb").write_text("{}")  # teach's run now has every chapter: the richest wins again
    assert published_order(study, book)[:2] == ["teach", "lesson"]
    assert {n: p for n, (p, _) in published_sources(study, book).items()}["00_produce"] == "teach"


def test_the_run_record_lists_each_trained_models_benchmark_line(tmp_path):
    """From a run's chapter logs (a smoke run here) or book/<profile>/benchmarks.txt (teach-import):
    one line per model and run, a model resumed at its end ("no steps run") left out."""
    from radgazegen.study.publish import benchmark_lines, run_record_page

    run = tmp_path / "runs" / "smoke"
    (run / "logs").mkdir(parents=True)
    (run / "notebooks").mkdir()
    (run / "progress.log").write_text("2026-01-01T00:00:00Z [smoke] 04_sd: done in 5.0 s\n")
    (run / "logs" / "04_sd.log").write_text(
        "training:  50%|#####| 1/2\rbenchmark SD-CXR: 2 steps in 1.0 s = 2.00 steps/s, 8 images/s (batch 4)\n")
    (run / "logs" / "05_cn.log").write_text("benchmark rad-cn: no steps run (resumed at the end)\nother output\n")
    assert benchmark_lines(run / "notebooks") == ["benchmark SD-CXR: 2 steps in 1.0 s = 2.00 steps/s, 8 images/s (batch 4)"]
    page = run_record_page("smoke", run / "notebooks", tmp_path / "r.md").read_text()
    assert "## Training speed" in page and "benchmark SD-CXR: 2 steps" in page and "rad-cn" not in page
    (run / "notebooks" / "benchmarks.txt").write_text("benchmark hva-cn: 3 steps in 1.0 s\n")
    assert benchmark_lines(run / "notebooks") == ["benchmark hva-cn: 3 steps in 1.0 s"]  # the saved file wins


def test_a_profile_may_leave_out_a_declared_upstream_chapter(study):
    """``lesson`` runs chapter 14 without 08-12: an upstream notebook without a parameters file in
    the profile is left out; a name that is no notebook at all is still an error."""
    side = study.notebooks / "02_side.py"
    side.write_text(INDEPENDENT.replace("upstream: []", "upstream: [00_produce, 01_consume]"))
    (study.params / "q").mkdir()
    (study.params / "q" / "00_produce.yml").write_text("n: 2\n")
    (study.params / "q" / "02_side.yml").write_text("{}\n")
    steps = {s.name: s for s in study.steps("q")}
    assert list(steps) == ["00_produce", "02_side"] and steps["02_side"].upstream == ["00_produce"]
    assert statuses(study.run("q", log=lambda *_: None)) == {"00_produce": "ran", "02_side": "ran"}
    assert [s.name for s in study.steps("p")][-1] == "02_side"  # the full profile keeps both upstream steps
    assert study.steps("p")[-1].upstream == ["00_produce", "01_consume"]
    side.write_text(INDEPENDENT.replace("upstream: []", "upstream: [00_produce, 07_missing]"))
    with pytest.raises(RunnerError, match="07_missing"):
        study.steps("q")


def test_every_profile_has_a_banner_and_lesson_runs_the_central_claim_tables_1_2_5_and_memorisation():
    from radgazegen.figures.book import PROFILE_NOTES, profile_banner

    real = Study()
    assert set(real.profiles()) <= set(PROFILE_NOTES)
    assert "lesson profile" in profile_banner("lesson").data.replace("**", "")
    lesson = [s.name[:2] for s in real.steps("lesson")]
    # the claim, Tables 1, 2 and 5 in part, the memorisation check
    assert lesson == ["00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "12", "13", "14", "15"]
    results = next(s for s in real.steps("lesson") if s.name == "14_results")
    assert results.upstream == ["08_table1_fid", "09_table2_controllability", "12_table5_ablation",
                                "13_gaze_localisation"]  # 10 and 11 left out


def test_kernels_get_sleeping_openmp_threads_unless_the_environment_says_otherwise(study, monkeypatch):
    """Spinning OpenMP threads made a shared 2-core CPU 5x slower (issue 14): the kernel gets PASSIVE."""
    side = study.notebooks / "02_side.py"
    side.write_text(INDEPENDENT.replace('print("independent")', 'import os; print("omp", os.environ.get("OMP_WAIT_POLICY"))'))
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    study.run("p", only=["02"], log=lambda *_: None)
    assert "omp PASSIVE" in output_text(study, "02_side")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    study.run("p", only=["02"], force=True, log=lambda *_: None)
    assert "omp ACTIVE" in output_text(study, "02_side")


def test_child_processes_stderr_goes_to_the_chapters_log(tmp_path, capfd):
    """While a chapter runs, its kernel's stderr (start-up warnings, a Ctrl-C's traceback) goes
    to the chapter's log, not the console; the console gets it back afterwards."""
    import subprocess
    import sys

    from radgazegen.core.progress import stderr_to

    log = tmp_path / "logs" / "01_x.log"
    with stderr_to(log):
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('Traceback (kernel)\\n')"], check=True)
    subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('after\\n')"], check=True)
    assert log.read_text() == "Traceback (kernel)\n"
    assert capfd.readouterr().err == "after\n"


def test_a_log_line_goes_to_the_chapters_log_under_the_runner(tmp_path, monkeypatch, capsys):
    from radgazegen.core.progress import LOG_VARIABLE, log_line

    log_line("benchmark X: 1.00 steps/s")
    assert capsys.readouterr().out == "benchmark X: 1.00 steps/s\n"
    monkeypatch.setenv(LOG_VARIABLE, str(tmp_path / "logs" / "04_x.log"))
    log_line("benchmark X: 2.00 steps/s")
    assert capsys.readouterr().out == "" and (tmp_path / "logs" / "04_x.log").read_text() == "benchmark X: 2.00 steps/s\n"


def test_a_chapter_with_a_stderr_output_fails_the_book_build(tmp_path):
    """Progress bars and warnings belong in the run's log: a rendered one stops the build, naming it."""
    import nbformat

    from radgazegen.study.publish import reader_first

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="a result\n")])])
    nbformat.write(nb, str(tmp_path / "ok.ipynb"))
    reader_first(tmp_path / "ok.ipynb", tmp_path / "ok-out.ipynb")
    nb.cells[0].outputs.append(nbformat.v4.new_output("stream", name="stderr", text="training: 50%|#####| 1/2\n"))
    nbformat.write(nb, str(tmp_path / "noisy.ipynb"))
    with pytest.raises(RunnerError, match=r"noisy\.ipynb: 1 stderr output\(s\) .*'training: 50%"):
        reader_first(tmp_path / "noisy.ipynb", tmp_path / "noisy-out.ipynb")


def test_a_run_directory_bundled_on_one_machine_is_up_to_date_in_another_checkout(tmp_path, monkeypatch):
    """Issue 26's CPU part: chapters run in one checkout, their run directory packed
    (``gpu_run.pack_run``) and unpacked in another checkout elsewhere (``unpack_run``) are up to
    date there (the state holds paths relative to the repository), so the GPU machine starts at the
    first chapter the bundle lacks; a chapter changed in the second checkout is stale there."""
    import shutil
    import tarfile

    from radgazegen.study import gpu_run, runner

    def checkout(root: Path) -> Study:
        (root / "notebooks").mkdir(parents=True)
        (root / "params" / "p").mkdir(parents=True)
        for name, text in (("00_produce", PRODUCER), ("01_consume", CONSUMER), ("02_side", INDEPENDENT)):
            (root / "notebooks" / f"{name}.py").write_text(text)
        for name, text in (("00_produce", "n: 4\n"), ("01_consume", "scale: 2.0\n"), ("02_side", "{}\n")):
            (root / "params" / "p" / f"{name}.yml").write_text(text)
        return Study(notebooks=root / "notebooks", params=root / "params", runs=root / "runs")

    cpu = checkout(tmp_path / "cpu")
    monkeypatch.setattr(runner, "REPO", tmp_path / "cpu")
    cpu.run("p", only=["01"], log=lambda _: None)
    bundle = gpu_run.pack_run(cpu.run_dir("p"), tmp_path / "p-cpu.tgz")
    with tarfile.open(bundle) as tar:
        assert "p/numbers.txt" in tar.getnames() and not [n for n in tar.getnames() if n.endswith(".lock")]

    gpu = checkout(tmp_path / "gpu")
    monkeypatch.setattr(runner, "REPO", tmp_path / "gpu")
    assert gpu_run.unpack_run(bundle, tmp_path / "gpu" / "runs", "p")
    assert not gpu_run.unpack_run(bundle, tmp_path / "gpu" / "runs", "p")  # once: a run directory there is kept
    assert dict(gpu.status("p")) == {"00_produce": "current", "01_consume": "current", "02_side": "stale: never run"}
    assert statuses(gpu.run("p", log=lambda _: None)) == {"00_produce": "skipped", "01_consume": "skipped", "02_side": "ran"}
    (tmp_path / "gpu" / "params" / "p" / "01_consume.yml").write_text("scale: 3.0\n")
    assert dict(gpu.status("p"))["01_consume"].startswith("stale")

    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(bundle, arcname="../outside.tgz")
    shutil.rmtree(tmp_path / "gpu" / "runs")
    with pytest.raises(ValueError, match=r"evil.tgz: member '../outside.tgz' is not a file under p/"):
        gpu_run.unpack_run(evil, tmp_path / "gpu" / "runs", "p")
    assert not (tmp_path / "gpu" / "runs" / "p").exists()


def test_the_machine_line_names_the_cpus_vector_units():
    """The last digits of a CPU run depend on the kernels torch picks (AVX-512 or AVX2): each
    run's progress.log says which the machine had."""
    from radgazegen.core.progress import machine_line, vector_units

    assert vector_units(["processor\t: 0", "flags\t\t: fpu sse avx2 avx512f avx512bw"]) == " (AVX-512)"
    assert vector_units(["flags\t\t: fpu sse avx avx2 fma"]) == " (AVX2)"
    assert vector_units(["flags\t\t: fpu sse sse4_2"]) == " (no AVX2)"
    assert vector_units(["model name\t: some CPU"]) == ""  # no flags line: nothing claimed
    line = machine_line(Path(__file__).parent)
    assert line.startswith("machine: commit ") and re.search(r"CPU .+ x \d+( \((AVX-512|AVX2|no AVX2)\))?; GPU ", line)
