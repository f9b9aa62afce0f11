"""The smoke profile a second time, from scratch, interrupted three times on the way, against the
unbroken first run (tests/test_smoke.py, ``smoke_study``): the standards' "the smoke profile
gives the same numbers twice on the same machine, and a run killed anywhere (SIGKILL, Ctrl-C)
and rerun gives the numbers of an unbroken run", in one second run.

The second run is stopped as a terminal's Ctrl-C or a job scheduler's kill stops it (the whole
process group), each time by the same command the README gives, run again:
1. SIGKILL while chapter 02 writes its control maps;
2. Ctrl-C (SIGINT) during chapter 05's training, after a checkpoint;
3. SIGKILL during chapter 05's training again, after a later checkpoint (its training resumed
   from the one step 2 left);
then it runs to the end. Every chapter's outputs (the numbers, tables and figures a reader sees)
and every results file and final model weight must equal the first run's. With ``make test``'s
workers this run goes on beside the first one (tests/conftest.py).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from radgazegen.study.runner import Study

pytestmark = pytest.mark.slow

#: Where the second run is stopped: (signal, the files whose first new write triggers it).
STOPS = [("SIGKILL", "maps/canny-*/*.png"),           # while control maps are being written
         ("SIGINT", "05_rad_cn/**/checkpoint-*"),     # Ctrl-C during training, after a checkpoint
         ("SIGKILL", "05_rad_cn/**/checkpoint-*")]    # killed during training, after a later one


def _command(study: Study) -> list[str]:
    return [sys.executable, "-m", "radgazegen", "run", "--profile", "smoke", "--runs", str(study.runs)]


def _chapters_started(run: Path, after: int) -> list[str]:
    """The chapters the progress log says were started, from its line ``after`` on."""
    log = run / "progress.log"
    lines = log.read_text().splitlines()[after:] if log.exists() else []
    return [m.group(1) for ln in lines if (m := re.search(r"\] (\d\d_\w+): running \(", ln))]


def _log_length(run: Path) -> int:
    log = run / "progress.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def _stop(study: Study, sig: str, trigger: str) -> dict:
    """Run the smoke profile in its own process group and send ``sig`` to the group as soon as a
    file matching ``trigger`` appears that was not there before. Returns what happened."""
    run = study.run_dir("smoke")
    before, log_from = set(run.glob(trigger)), _log_length(run)
    # SIGINT at its default whatever this test inherited: a shell's background job (`cmd &`) starts
    # with SIGINT ignored, and its children would ignore the Ctrl-C this case sends
    proc = subprocess.Popen(_command(study), start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900
    while proc.poll() is None and time.monotonic() < deadline and not (set(run.glob(trigger)) - before):
        time.sleep(0.05)
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    time.sleep(2)  # a kernel left behind notices its runner is gone
    return {"signal": sig, "trigger": trigger, "was_running": running, "returncode": proc.returncode,
            "stderr": err, "started": _chapters_started(run, log_from), "log_from": log_from}


@pytest.fixture(scope="module")
def again(tmp_path_factory) -> dict:
    """The second run: stopped at each of ``STOPS`` in turn, then run to its end."""
    study = Study(runs=tmp_path_factory.mktemp("again") / "runs")
    run = study.run_dir("smoke")
    stops = [_stop(study, sig, trigger) for sig, trigger in STOPS]
    log_from = _log_length(run)
    final = subprocess.run(_command(study), capture_output=True, text=True, timeout=1800)
    return {"study": study, "stops": stops, "final": final, "final_started": _chapters_started(run, log_from)}


def test_each_stop_came_while_its_chapter_ran(again):
    for stop, chapter in zip(again["stops"], ["02_control_maps", "05_rad_cn", "05_rad_cn"]):
        assert stop["was_running"], f"the run finished before {stop['trigger']} appeared"
        assert stop["started"] and stop["started"][-1] == chapter, stop["started"]


def test_ctrl_c_ends_with_one_line_and_exit_status_130(again):
    ctrl_c = again["stops"][1]
    err = ctrl_c["stderr"].strip().splitlines()
    assert ctrl_c["returncode"] == 130 and "Traceback" not in ctrl_c["stderr"] and "interrupted" in err[-1], err[-5:]


def test_each_rerun_starts_at_the_chapter_that_was_stopped(again):
    """Nothing already written is redone: the chapters before the stopped one stay done."""
    later = [s["started"] for s in again["stops"][1:]] + [again["final_started"]]
    for stop, started in zip(again["stops"], later):
        assert started[0] == stop["started"][-1], (stop["signal"], stop["started"], started)
    assert again["final"].returncode == 0, again["final"].stderr[-2000:]
    assert again["final_started"][-1] == "15_memorisation"


def _outputs(study: Study, name: str) -> list:
    """A chapter's outputs as a reader sees them. stderr holds progress bars (with timings) and
    warnings: not results. Consecutive stdout outputs of a cell are one text: the kernel sends
    printed text in chunks whose borders depend on timing (two prints 0.2 s apart arrive as two
    outputs in one run and as one in the next), not on what was printed. Chapter 02's table of
    maps computed and reused from the cache is the run's history, like a progress bar: a rerun
    after a kill reuses the maps written before it (``_cache_table``)."""
    nb = nbformat.read(study.executed("smoke", name), as_version=4)
    out = []
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        first = len(out)
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr" or _cache_table(o):
                continue
            o = {k: v for k, v in o.items() if k != "metadata"}
            if o.get("output_type") == "stream" and len(out) > first and out[-1].get("output_type") == "stream":
                out[-1] = dict(out[-1], text=out[-1]["text"] + o["text"])
            else:
                out.append(o)
    return out


def _cache_table(output: dict) -> str | None:
    """The text of chapter 02's "computed / reused from cache" table if ``output`` is it."""
    text = output.get("data", {}).get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else text
    return text if "reused from cache" in text else None


def _numbers(run: Path) -> dict[str, bytes]:
    """What a run's numbers are: every results file and every final model's weights, by path."""
    files = [*run.glob("results/*.csv"), *run.glob("**/final/**/*.safetensors")]
    return {str(f.relative_to(run)): f.read_bytes() for f in files}


def test_the_interrupted_second_run_gives_the_numbers_and_figures_of_the_unbroken_first(again, smoke_study):
    second: Study = again["study"]
    assert again["final"].returncode == 0, again["final"].stderr[-2000:]
    first_numbers, second_numbers = _numbers(smoke_study.run_dir("smoke")), _numbers(second.run_dir("smoke"))
    assert any(k.endswith(".safetensors") for k in first_numbers) and len(first_numbers) > 10
    assert sorted(second_numbers) == sorted(first_numbers)
    assert [k for k in first_numbers if first_numbers[k] != second_numbers[k]] == []
    for step in smoke_study.resolve("smoke"):
        assert _outputs(second, step.name) == _outputs(smoke_study, step.name), step.name


def test_the_rerun_after_the_kill_reused_the_maps_written_before_it(again, smoke_study):
    """Nothing already written is lost: the maps chapter 02 wrote before its SIGKILL were reused."""
    def reused(study: Study) -> list[int]:
        nb = nbformat.read(study.executed("smoke", "02_control_maps"), as_version=4)
        (table,) = [t for c in nb.cells for o in c.get("outputs", []) if (t := _cache_table(o))]
        return [int(row.split()[2]) for row in table.splitlines()[1:]]  # rows: name, computed, reused, folder
    assert set(reused(smoke_study)) == {0} and sum(reused(again["study"])) > 0
