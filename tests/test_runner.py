"""The papermill runner: caching, parameter overrides and checks, failures."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from radgazegen.runner import RunnerError, StepFailed, Study

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
from pathlib import Path
total = scale * sum(int(v) for v in Path(run_dir, "numbers.txt").read_text().split())
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


def test_project_notebooks_declare_documented_parameters():
    """Every notebook of the study has a tagged parameters cell with a comment per parameter,
    and every profile's parameter files name only declared parameters of the right type."""
    real = Study()
    for profile in real.profiles():
        for step in real.resolve(profile):
            from radgazegen.runner import declared_parameters

            declared = declared_parameters(step.path)
            assert {"profile", "run_dir"} <= set(declared), step.path
            undocumented = [k for k, v in declared.items() if not v["help"]]
            assert not undocumented, f"{step.path}: parameters without a comment: {undocumented}"
