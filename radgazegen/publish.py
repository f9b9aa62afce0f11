"""The Jupyter Book build from a profile's executed notebooks.

The book renders executed notebooks (execution is off in ``_config.yml``): chapters are
copied from a profile's run directory (``runs/<profile>/notebooks``) or, for a published
profile, from its committed folder ``book/<profile>/``, into ``book/chapters/`` and built
with Jupyter Book 1 (offline), warnings treated as errors.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from radgazegen.runner import REPO, RunnerError, Study


def collect_chapters(profile: str, study: Study | None = None, source: Path | None = None) -> list[Path]:
    """Copy the profile's executed notebooks into ``book/chapters/``; returns the copies.

    source: folder of executed notebooks; default ``runs/<profile>/notebooks`` when the
    profile was run here and is complete, else the committed ``book/<profile>/``.
    Every step of the profile must be present and current: a book never mixes stale
    and fresh chapters.
    """
    study = study or Study()
    chapters = REPO / "book" / "chapters"
    if source is None:
        steps = study.resolve(profile)
        stale = [s.name for s in steps if not study.is_current(profile, s)]
        committed = REPO / "book" / profile
        if not stale:
            source = study.run_dir(profile) / "notebooks"
            names = [s.name for s in steps]
        elif committed.is_dir():
            source = committed
            names = sorted(p.stem for p in committed.glob("[0-9][0-9]_*.ipynb"))
        else:
            raise RunnerError(
                f"profile {profile!r}: notebooks {stale} are not run or out of date; run "
                f"`python -m radgazegen run --profile {profile}` first"
            )
    else:
        names = sorted(p.stem for p in Path(source).glob("[0-9][0-9]_*.ipynb") if "." not in p.stem)
    if not names:
        raise RunnerError(f"no executed notebooks in {source}")
    if chapters.exists():
        shutil.rmtree(chapters)
    chapters.mkdir(parents=True)
    copies = []
    for name in names:
        src = Path(source) / f"{name}.ipynb"
        if not src.exists():
            raise RunnerError(f"{src}: executed notebook missing")
        copies.append(Path(shutil.copy2(src, chapters / src.name)))
    record = run_record_page(profile, Path(source), chapters / "99_run_record.md")
    return copies + ([record] if record else [])


#: Files of a run that ``run_record_page`` reads, beside the executed notebooks or one folder up.
RUN_RECORD_FILES = {"progress": "progress.log", "device": "device.txt", "bench": "bench.txt"}


def _run_file(source: Path, name: str) -> Path | None:
    return next((p for p in (source / name, source.parent / name) if p.is_file()), None)


def run_record_page(profile: str, source: Path, dest: Path) -> Path | None:
    """Write the book's page on the run itself: each chapter's wall time (the last "done in"
    line per chapter of the runner's ``progress.log``), the machine (``device.txt``) and the
    GPU benchmark's printed figures (``bench.txt``, ``python -m radgazegen bench --gpu``).
    None (no page) when the run left no ``progress.log``."""
    import re

    progress = _run_file(source, RUN_RECORD_FILES["progress"])
    if progress is None:
        return None
    times: dict[str, float] = {}
    for line in progress.read_text(encoding="utf-8").splitlines():
        m = re.search(r"\] (\d\d_\w+): done in ([0-9.]+) s", line)
        if m:
            times[m.group(1)] = float(m.group(2))
    lines = [f"# The run behind these chapters ({profile} profile)", "",
             "Every chapter of this book was executed by the run recorded here; the figures below are "
             f"that run's own logs, not edited.", ""]
    device = _run_file(source, RUN_RECORD_FILES["device"])
    if device is not None:
        lines += ["## Machine", "", "```text", device.read_text(encoding="utf-8").strip(), "```", ""]
    lines += ["## Wall time per chapter", "", "| chapter | seconds |", "| --- | ---: |"]
    lines += [f"| {name} | {sec:.1f} |" for name, sec in sorted(times.items())]
    lines += [f"| **all chapters** | **{sum(times.values()):.1f}** |", ""]
    bench = _run_file(source, RUN_RECORD_FILES["bench"])
    if bench is not None:
        lines += ["## GPU benchmark at Stable Diffusion v1.5 size", "",
                  "`python -m radgazegen bench --gpu`: random weights from the standard configs, 512x512. "
                  "Training: our ControlNet step against the step of diffusers' `train_controlnet.py` "
                  "example (batch 4, bf16); generation: `generation.generate` against the stock "
                  "`StableDiffusionControlNetPipeline` with two ControlNets (fp16). MFU: model FLOPs "
                  "per second over the GPU's dense bf16 peak.", "", "```text",
                  bench.read_text(encoding="utf-8").strip(), "```", ""]
    from radgazegen.io import write_text

    write_text(dest, "\n".join(lines))
    return dest


def build_book(profile: str, study: Study | None = None, source: Path | None = None) -> Path:
    """Collect the chapters and build the HTML book; returns ``_build/html/index.html``."""
    collect_chapters(profile, study, source)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(REPO), "--all", "--warningiserror", "--keep-going"]
    subprocess.run(cmd, check=True, cwd=REPO)
    index = REPO / "_build" / "html" / "index.html"
    if not index.exists():
        raise RunnerError(f"book build finished but {index} is missing")
    return index
