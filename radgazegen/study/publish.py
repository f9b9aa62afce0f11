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

from radgazegen.study.runner import REPO, RunnerError, Study


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
        copies.append(reader_first(src, chapters / src.name))
    record = run_record_page(profile, Path(source), chapters / "99_run_record.md")
    return copies + ([record] if record else [])


#: Lines of a text output beyond which its cell scrolls in the book (Jupyter Book's ``output_scroll``).
SCROLL_LINES = 25


def reader_first(src: Path, dest: Path, book_dir: Path | None = None) -> Path:
    """Copy the executed notebook ``src`` to ``dest`` arranged for readers: every code input
    collapsed behind a toggle (``hide-input``; outputs stay), the two parameter cells (the
    defaults and papermill's injected values) removed, and in their place, after the chapter's
    opening text, one table "Parameters of this run" from papermill's record of the values it
    ran with; long text outputs scroll inside their cell; the results chapter's table of every
    claim's best verdict is rendered again from the claims ledgers committed under ``book_dir``
    (default ``book/``; ``ledger.refresh_best_verdicts``). The executed notebook is unchanged. A
    stderr output (a progress bar, a warning) is a ``RunnerError``: it is fixed at its cause."""
    import nbformat

    from radgazegen.core.io import write_text

    nb = nbformat.read(str(src), as_version=4)
    noise = [("".join(o.get("text", "")).strip().splitlines() or [""])[0] for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    if noise:  # progress bars and warnings go to the run's log; one in a chapter is fixed at its cause
        raise RunnerError(f"{src}: {len(noise)} stderr output(s) would be rendered in the book, e.g. "
                          f"{noise[0][:160]!r}; fix the cause (progress and warnings belong in the run's log)")
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if cell.cell_type != "code":
            continue
        if {"parameters", "injected-parameters"} & set(tags):
            tags += [] if "remove-cell" in tags else ["remove-cell"]
            continue
        if not {"exercise", "hide-input"} & set(tags):  # an exercise's code is what a reader comes to read
            tags.append("hide-input")
        text = sum(len("".join(o.get("text", "")).splitlines()) for o in cell.get("outputs", []))
        if text > SCROLL_LINES and "output_scroll" not in tags:
            tags.append("output_scroll")
    from radgazegen.metrics.ledger import refresh_best_verdicts

    refresh_best_verdicts(nb, book_dir or REPO / "book")  # chapter 14: the ledgers committed now
    try:  # the repository's copy of the executed notebook, for the page's launch buttons
        nb.metadata.setdefault("radgazegen", {})["executed_notebook"] = src.resolve().relative_to(REPO).as_posix()
    except ValueError:  # a notebook outside the repository: no machine path in the page
        pass
    used = (nb.metadata.get("papermill") or {}).get("parameters") or {}
    for key in ("input_path", "output_path"):  # papermill's record, in the page's .ipynb download: no machine path
        value = str((nb.metadata.get("papermill") or {}).get(key) or "")
        at = value.find(f"runs/{used.get('profile', '')}/")
        if at > 0:
            nb.metadata["papermill"][key] = value[at:]
    if used:
        run_dir, profile = str(used.get("run_dir", "")), used.get("profile", "")
        shown = lambda v: (f"runs/{profile}" + v[len(run_dir):]  # a run directory outside the repository (a
                           if run_dir and isinstance(v, str) and v.startswith(run_dir) else v)  # test's): no machine path
        rows = [f"| `{k}` | `{shown(v)!r}` |" for k, v in sorted(used.items())]
        table = nbformat.v4.new_markdown_cell("\n".join([  # folded: a reader opens it when wanted
            ":::{admonition} Parameters of this run", ":class: dropdown", "",
            "As papermill passed them (each is documented in the notebook's parameters cell). Rerun this "
            f"chapter with other values, after the chapters it needs: `python -m radgazegen run --profile "
            f"{profile or 'smoke'} --only {dest.stem[:2]} -p {dest.stem}.NAME=VALUE`.", "",
            "| parameter | value |", "| --- | --- |", *rows, ":::"]))
        first_md = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
        nb.cells.insert(first_md + 1, table)
    write_text(dest, nbformat.writes(nb))
    return dest


#: The published edition's order of preference per chapter, the richest profile first; a profile whose
#: committed run is incomplete comes after every complete one (``published_order``).
PUBLISHED_ORDER = ("full", "teach", "lesson", "smoke")


#: The chapter whose executed copy says a committed run reached its end.
LAST_CHAPTER = "14_results"


def committed_complete(profile: str, study: Study | None = None, book_dir: Path | None = None) -> bool:
    """Whether ``book/<profile>/`` (``book_dir``) holds an executed copy of every chapter the
    profile runs (a parameters file in ``params/<profile>/``), results chapter 14 included: a run
    that stopped before its end, or one its profile has since outgrown, is not complete. A profile
    without parameters is never complete."""
    study = study or Study()
    folder = (book_dir or REPO / "book") / profile
    try:
        wanted = {s.name for s in study.steps(profile)}
    except RunnerError:
        return False
    have = {p.stem for p in folder.glob("[0-9][0-9]_*.ipynb") if "." not in p.stem}
    return bool(wanted) and wanted <= have


def published_order(study: Study | None = None, book_dir: Path | None = None) -> list[str]:
    """``PUBLISHED_ORDER`` with the profiles whose committed run is complete (``committed_complete``)
    first, then the incomplete ones that reached chapter 14 (a run its profile has since outgrown),
    then those that did not (teach's chapters 00-06 from a GPU session that ran out of time), each
    group in richness order: an incomplete richer run never hides a complete run's chapters, and
    fills only the chapters that no run before it has."""
    book_dir = book_dir or REPO / "book"
    rank = {p: 0 if committed_complete(p, study, book_dir) else 1 if (book_dir / p / f"{LAST_CHAPTER}.ipynb").is_file()
            else 2 for p in PUBLISHED_ORDER}
    return sorted(PUBLISHED_ORDER, key=lambda p: (rank[p], PUBLISHED_ORDER.index(p)))


def published_sources(study: Study | None = None, book_dir: Path | None = None) -> dict[str, tuple[str, Path]]:
    """Chapter name -> (profile, executed notebook) of the published edition: per chapter the
    first profile that has it in ``published_order`` (complete committed runs first, each group
    richest first), from its committed folder ``book/<profile>/`` (``book_dir``), else, for smoke,
    from a current run here (``runs/smoke/notebooks``, never committed). Nothing is executed."""
    study = study or Study()
    book_dir = book_dir or REPO / "book"
    candidates: list[tuple[str, Path]] = []
    for profile in published_order(study, book_dir):
        candidates += [(profile, nb) for nb in sorted((book_dir / profile).glob("[0-9][0-9]_*.ipynb"))]
    if "smoke" in study.profiles():  # a smoke run here: its current chapters only (never a stale one)
        run = study.run_dir("smoke") / "notebooks"
        candidates += [("smoke", run / f"{s.name}.ipynb") for s in study.resolve("smoke")
                       if study.is_current("smoke", s) and (run / f"{s.name}.ipynb").is_file()]
    found: dict[str, tuple[str, Path]] = {}
    for profile, nb in candidates:
        if "." not in nb.stem:  # not a .running / .failed copy
            found.setdefault(nb.stem, (profile, nb))
    return dict(sorted(found.items()))


def collect_published(study: Study | None = None, book_dir: Path | None = None) -> list[Path]:
    """Copy the published edition (``published_sources``) into ``book/chapters/``, with one
    run-record page per profile it uses; returns the copies. Each chapter keeps its own
    profile banner, so a reader sees which profile every page was executed with."""
    sources = published_sources(study, book_dir)
    if not sources:
        raise RunnerError("no executed chapters: commit book/teach/, book/lesson/ or book/smoke/, or run "
                          "`python -m radgazegen run --profile smoke` first")
    chapters = REPO / "book" / "chapters"
    if chapters.exists():
        shutil.rmtree(chapters)
    chapters.mkdir(parents=True)
    copies = [reader_first(nb, chapters / nb.name) for _, nb in sources.values()]
    for k, profile in enumerate(dict.fromkeys(p for p, _ in sources.values())):
        folder = next(nb.parent for p, nb in sources.values() if p == profile)
        names = [name for name, (p, _) in sources.items() if p == profile]
        record = run_record_page(profile, folder, chapters / f"{97 + k:02d}_run_record_{profile}.md", names)
        copies += [record] if record else []
    return copies


#: Files of a run that ``run_record_page`` reads, beside the executed notebooks or one folder up.
RUN_RECORD_FILES = {"progress": "progress.log", "device": "device.txt", "bench": "bench.txt",
                    "training": "benchmarks.txt", "preflight": "preflight.txt"}


def benchmark_lines(source: Path) -> list[str]:
    """The trained models' benchmark lines (``training.benchmark_line``, written to each chapter's
    log by ``progress.log_line``): ``benchmarks.txt`` beside the chapters (``make teach-import``
    writes it), else the run's ``logs/*.log`` one folder up; lines of models resumed at their
    end ("no steps run") left out."""
    saved = _run_file(source, RUN_RECORD_FILES["training"])
    if saved is not None:
        text = saved.read_text(encoding="utf-8")
    else:
        text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(source.parent.glob("logs/*.log")))
    lines = (line.strip() for line in text.replace("\r", "\n").splitlines())
    return [line for line in lines if line.startswith("benchmark ") and "no steps run" not in line]


def _run_file(source: Path, name: str) -> Path | None:
    return next((p for p in (source / name, source.parent / name) if p.is_file()), None)


def chapter_times(progress: Path, chapters: list[str] | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """From a runner's ``progress.log``: chapter -> seconds of its last "done in" line (only
    ``chapters`` when given), and chapter -> the machine line (commit, versions, CPU, GPU) of
    the runner start that finished it."""
    import re

    times: dict[str, float] = {}
    where: dict[str, str] = {}
    machine = ""
    for line in progress.read_text(encoding="utf-8").splitlines():
        if " machine: " in line:
            machine = line.split(" machine: ", 1)[1]
        m = re.search(r"\] (\d\d_\w+): done in ([0-9.]+) s", line)
        if m and (chapters is None or m.group(1) in chapters):
            times[m.group(1)] = float(m.group(2))
            where[m.group(1)] = machine
    return times, where


def teaching_files(book_dir: Path | None = None, study: Study | None = None, course_dir: Path | None = None) -> Path:
    """What the book's teaching page includes, written into ``book/_course/`` (never committed):
    the student edition's zip (``course.build_course``, reading the lesson run when the book has
    one, else the smoke run) and ``lesson-timings.md``, the lesson
    profile's wall time per chapter from its ``progress.log`` (``book/lesson/``, else a lesson
    run here), or a sentence saying there is none. course_dir: where the student notebooks go
    (default ``_build/course``). Returns the folder."""
    from radgazegen.study.course import ZIP_NAME, build_course
    from radgazegen.core.io import write_bytes, write_text

    book_dir = book_dir or REPO / "book"
    out = book_dir / "_course"
    study = study or Study()
    logs = [book_dir / "lesson" / "progress.log", study.run_dir("lesson") / "progress.log"]
    progress = next((p for p in logs if p.is_file()), None)
    zpath = build_course(course_dir or REPO / "_build" / "course", profile="lesson" if progress else "smoke")
    write_bytes(out / ZIP_NAME, zpath.read_bytes())
    if progress is None:
        text = ("No `lesson` run is part of this edition of the book: after `make study PROFILE=lesson` its "
                "wall time per chapter appears here.")
    else:
        times, where = chapter_times(progress)
        machines = list(dict.fromkeys(m for m in where.values() if m))
        text = "\n".join([
            f"Wall time per chapter of the `lesson` run shown in this book, from its `progress.log` "
            f"({progress.parent.name}/progress.log), in seconds:", "",
            "| chapter | seconds |", "| --- | ---: |", *[f"| {n} | {s:.0f} |" for n, s in sorted(times.items())],
            f"| **all chapters** | **{sum(times.values()):.0f}** ({sum(times.values()) / 60:.1f} min) |", "",
            "Machine: " + ("; ".join(machines) if machines else "not recorded") + "."])
    write_text(out / "lesson-timings.md", text + "\n")
    return out


def run_record_page(profile: str, source: Path, dest: Path, chapters: list[str] | None = None) -> Path | None:
    """Write the book's page on the run itself: each chapter's wall time (the last "done in"
    line per chapter of the runner's ``progress.log``; only ``chapters`` when given), the
    machine (``device.txt``) and the GPU benchmark's printed figures (``bench.txt``,
    ``python -m radgazegen bench --gpu``). None (no page) when the run left no ``progress.log``."""
    progress = _run_file(source, RUN_RECORD_FILES["progress"])
    if progress is None:
        return None
    times, where = chapter_times(progress, chapters)
    lines = [f"# The run behind the {profile} chapters", "",
             f"The chapters below were executed by the {profile} run recorded here; the figures are "
             "that run's own logs, not edited.", ""]
    device = _run_file(source, RUN_RECORD_FILES["device"])
    if device is not None:
        lines += ["## Machine", "", "```text", device.read_text(encoding="utf-8").strip(), "```", ""]
    checked = _run_file(source, RUN_RECORD_FILES["preflight"])
    if checked is not None:
        lines += ["## External resources and stand-ins", "",
                  "`python -m radgazegen check` before the run: what was found, and each stand-in the run used "
                  "in place of a paper component (its numbers are then not the paper's quantity).", "",
                  "```text", checked.read_text(encoding="utf-8").strip(), "```", ""]
    machines = list(dict.fromkeys(m for m in where.values() if m))
    label = lambda name: f"{machines.index(where[name]) + 1}" if where.get(name) else "not recorded"
    lines += ["## Wall time per chapter", "", "| chapter | seconds | machine |", "| --- | ---: | --- |"]
    lines += [f"| {name} | {sec:.1f} | {label(name)} |" for name, sec in sorted(times.items())]
    lines += [f"| **all chapters** | **{sum(times.values()):.1f}** | |", ""]
    if machines:
        lines += ["Machines (the study's commit, Python, key packages, CPU, GPU), as the runner recorded them:", ""]
        lines += [f"{k}. {m}" for k, m in enumerate(machines, 1)] + [""]
    trained = benchmark_lines(source)
    if trained:
        lines += ["## Training speed", "",
                  "One line per trained model and run (a model resumed from a checkpoint has a line per "
                  "run that trained it): optimiser steps, wall seconds (validation images included), "
                  "images per second, peak memory, threads.", "", "```text", *trained, "```", ""]
    bench = _run_file(source, RUN_RECORD_FILES["bench"])
    if bench is not None:
        lines += ["## GPU benchmark at Stable Diffusion v1.5 size", "",
                  "`python -m radgazegen bench --gpu`: random weights from the standard configs, 512x512. "
                  "Training: our ControlNet step against the step of diffusers' `train_controlnet.py` "
                  "example (batch 4, bf16); generation: `generation.generate` against the stock "
                  "`StableDiffusionControlNetPipeline` with two ControlNets (fp16). MFU: model FLOPs "
                  "per second over the GPU's dense bf16 peak.", "", "```text",
                  bench.read_text(encoding="utf-8").strip(), "```", ""]
    from radgazegen.core.io import write_text

    write_text(dest, "\n".join(lines))
    return dest


def book_config(source: Path | None = None, dest: Path | None = None, launch_paths: dict[str, str] | None = None) -> Path:
    """The Jupyter Book configuration to build with: ``_config.yml``, and when its one repository
    setting (``repository.url``) is set, the repository and issues buttons and launch buttons
    (Binder, Colab: ``launch_buttons.LAUNCH_BUTTONS``) that open each page's committed notebook
    (``launch_paths``: page name -> path in the repository; ``launch_paths_of``), written to
    ``_build/_config.yml``; the file itself otherwise."""
    import yaml

    from radgazegen.core.io import write_text
    from radgazegen.study.launch_buttons import LAUNCH_BUTTONS

    source = source or REPO / "_config.yml"
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not (config.get("repository") or {}).get("url"):
        return source
    config.setdefault("html", {}).update(use_repository_button=True, use_issues_button=True)
    config.setdefault("launch_buttons", dict(LAUNCH_BUTTONS))
    sphinx = config.setdefault("sphinx", {})
    sphinx["extra_extensions"] = [*(sphinx.get("extra_extensions") or []), "radgazegen.study.launch_buttons"]
    sphinx.setdefault("config", {})["radgazegen_launch_paths"] = dict(launch_paths or {})
    dest = dest or REPO / "_build" / "_config.yml"
    write_text(dest, yaml.safe_dump(config, sort_keys=False))
    return dest


def launch_paths_of(chapters: Path, repo: Path = REPO) -> dict[str, str]:
    """Page name -> repository path of the executed notebook each page of ``chapters`` was copied
    from (``reader_first`` notes it), for the sources that are committed (``git ls-files``; a
    chapter of a run here never is)."""
    import json

    tracked = subprocess.run(["git", "ls-files", "-z", "book"], cwd=repo, capture_output=True, text=True)
    files = set(tracked.stdout.split("\0")) if tracked.returncode == 0 else set()
    paths = {}
    for copy in sorted(Path(chapters).glob("*.ipynb")):
        src = json.loads(copy.read_text(encoding="utf-8"))["metadata"].get("radgazegen", {}).get("executed_notebook")
        if src in files:
            paths[copy.resolve().relative_to(repo.resolve()).with_suffix("").as_posix()] = src
    return paths


def memorisation_guard(record: Path) -> None:
    """A full book only after chapter 15's memorisation check passed or the user opted in (``check_record``)."""
    from radgazegen.metrics.memorisation import MemorisationError, check_record

    try:
        check_record(record)
    except MemorisationError as exc:
        raise RunnerError(str(exc)) from None


def build_book(profile: str | None, study: Study | None = None, source: Path | None = None) -> Path:
    """Collect the chapters (of ``profile``; the published edition, ``collect_published``, when
    None) and build the HTML book; returns ``_build/html/index.html``."""
    if profile is None:
        collect_published(study)
        if (REPO / "book" / "full").is_dir():  # a committed full run: its guard record travels with it
            memorisation_guard(REPO / "book" / "full" / "memorisation.json")
    else:
        if profile == "full":
            memorisation_guard((study or Study()).run_dir("full") / "results" / "memorisation.json")
        collect_chapters(profile, study, source)
    teaching_files(study=study)  # the teaching page's student-edition zip and lesson timings
    shutil.rmtree(REPO / "_build" / "html", ignore_errors=True)  # no page of an earlier edition is left behind
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(REPO), "--all", "--warningiserror", "--keep-going",
           "--config", str(book_config(launch_paths=launch_paths_of(REPO / "book" / "chapters")))]
    subprocess.run(cmd, check=True, cwd=REPO)
    index = REPO / "_build" / "html" / "index.html"
    if not index.exists():
        raise RunnerError(f"book build finished but {index} is missing")
    return index
