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
    return copies


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
