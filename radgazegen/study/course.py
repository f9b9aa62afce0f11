"""The course edition (``make course``): the chapters with their exercises' solutions taken out.

An exercise is a code cell of a chapter's source (``notebooks/NN_*.py``) whose solution lies
between nbgrader's markers ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the cell after it
calls ``radgazegen.figures.exercises.check``. ``student_source`` replaces each marked region with
nbgrader's stub (``# YOUR CODE HERE`` + ``raise NotImplementedError()``, at the region's
indentation); ``build_course`` writes every chapter that has an exercise as a student notebook
(``.ipynb``, no outputs) into the build folder, with a first cell that moves to the study's root
(so the chapter's default run directory ``runs/<profile>`` is found) and a README listing the
exercises, and packs them as ``radgazegen-course.zip`` for the book's teaching page. nbgrader
reads the same markers from the chapters themselves (``nbgrader generate_assignment``).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[ \t]*\n.*?^[ \t]*{re.escape(END)}[ \t]*$", re.MULTILINE | re.DOTALL)
ZIP_NAME = "radgazegen-course.zip"
ROOT_CELL = ('# Student edition: run from the study\'s root, where `make study` (or `make study PROFILE=lesson`)\n'
             '# wrote runs/<profile>/, which this chapter reads.\nimport os\nfrom pathlib import Path\n\n'
             'if not Path("runs").is_dir() and Path("../../runs").is_dir():\n    os.chdir("../..")')


def has_solution(text: str) -> bool:
    return BEGIN in text


def student_source(text: str) -> str:
    """``text`` with every solution region replaced by nbgrader's stub (same indentation); a
    BEGIN marker without its END is a ``ValueError``."""
    if text.count(BEGIN) != text.count(END):
        raise ValueError(f"{text.count(BEGIN)} '{BEGIN}' marker(s) but {text.count(END)} '{END}'")
    return _REGION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", text)


def exercise_names(text: str) -> list[str]:
    """The exercises a source checks: the names passed to ``exercises.check("...", ...)``."""
    return re.findall(r'exercises\.check\("([a-z_]+)"', text)


def profile_cell(profile: str, chapter: str, study=None):
    """A code cell setting ``chapter``'s parameters as ``profile`` runs it (what papermill would
    inject), or None when the profile has no such chapter."""
    import nbformat

    from radgazegen.study.runner import Study

    steps = {s.name: s for s in (study or Study()).resolve(profile)}
    if chapter not in steps:
        return None
    lines = [f"# Parameters of the {profile} profile (the chapter reads that run: runs/{profile}/)"]
    lines += [f"{k} = {v!r}" for k, v in sorted(steps[chapter].params.items())]
    return nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})


def build_course(out: Path | None = None, notebooks: Path | None = None, profile: str = "smoke", study=None) -> Path:
    """Write the student edition of every chapter with an exercise into ``out`` (default
    ``_build/course``) and its zip beside it; returns the zip's path. ``profile``: the run the
    student notebooks read (its parameters follow each chapter's parameters cell)."""
    import jupytext
    import nbformat

    from radgazegen.core.io import write_bytes, write_text

    out = Path(out or REPO / "_build" / "course")
    notebooks = Path(notebooks or REPO / "notebooks")
    out.mkdir(parents=True, exist_ok=True)
    rows, written = [], []
    for src in sorted(notebooks.glob("[0-9][0-9]_*.py")):
        text = src.read_text(encoding="utf-8")
        if not has_solution(text):
            continue
        nb = jupytext.reads(text, fmt="py:percent")
        for cell in nb.cells:
            if cell.cell_type == "code" and has_solution(cell.source):
                cell.source = student_source(cell.source)
                cell.metadata.setdefault("tags", [])
        injected = profile_cell(profile, src.stem, study)
        if injected is not None:
            k = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
            nb.cells.insert(k + 1, injected)
        nb.cells.insert(0, nbformat.v4.new_code_cell(ROOT_CELL, metadata={"tags": ["course-setup"]}))
        dest = out / f"{src.stem}.ipynb"
        write_text(dest, nbformat.writes(nb))
        written.append(dest)
        rows.append(f"| `{dest.name}` | {', '.join(f'`{n}`' for n in exercise_names(text))} |")
    if not written:
        raise ValueError(f"{notebooks}: no chapter has a '{BEGIN}' region")
    readme = out / "README.md"
    write_text(readme, "\n".join([
        "# RadGazeGen study: student edition", "",
        "Each chapter below has an exercise cell whose solution was replaced by `raise NotImplementedError()`, "
        "followed by a check cell that compares your function with the study's package and says in words what "
        f"differs. The notebooks read the `{profile}` run: run it once from the study's root first "
        f"(`make study PROFILE={profile}`), then open them from `_build/course/` of that checkout.", "",
        "| chapter | exercises |", "| --- | --- |", *rows, ""]))
    zpath = out.parent / ZIP_NAME
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in [readme, *written]:
            info = zipfile.ZipInfo(f"course/{path.name}", date_time=(2024, 1, 1, 0, 0, 0))  # same bytes every build
            z.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    write_bytes(zpath, buf.getvalue())
    return zpath
