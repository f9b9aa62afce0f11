"""The course edition: exercises in the chapters, their checks, and the student edition (issue 14)."""
from __future__ import annotations

import zipfile

import cv2
import jupytext
import numpy as np
import pytest
import torch

from radgazegen.study import course
from radgazegen.figures import exercises
from radgazegen.study.course import REPO

CHAPTERS = {"02_control_maps": "hva_map", "03_hypotheses": "hypothesis", "07_generation": "fusion",
            "13_gaze_localisation": "pointing_game"}


def exercise_function(source: str):
    """The function an exercise cell defines (its only top-level def), executed."""
    ns = {"np": np, "cv2": cv2, "torch": torch}
    exec(source, ns)
    (name,) = [k for k, v in ns.items() if callable(v) and getattr(v, "__module__", "") is None]
    return ns[name]


def exercise_cells(chapter: str) -> list[str]:
    nb = jupytext.reads((REPO / "notebooks" / f"{chapter}.py").read_text(), fmt="py:percent")
    return [c.source for c in nb.cells if c.cell_type == "code" and course.has_solution(c.source)]


@pytest.mark.parametrize("chapter, name", CHAPTERS.items())
def test_each_check_passes_on_the_solution_and_fails_in_words_on_the_stub(chapter, name):
    (cell,) = exercise_cells(chapter)
    assert exercises.check(name, exercise_function(cell)).startswith("check passed")
    stub = course.student_source(cell)
    assert "raise NotImplementedError()" in stub and course.BEGIN not in stub and "np.add.at" not in stub
    with pytest.raises(exercises.ExerciseFailed, match="is not written yet"):
        exercises.check(name, exercise_function(stub))


def test_known_mistakes_are_named():
    def released(f_bag, f_hyp):  # the authors' released script: the largest MSE
        return int(np.argmax(((f_bag - f_hyp) ** 2).mean(axis=1)))

    with pytest.raises(exercises.ExerciseFailed, match="least similar.*the paper selects the best match"):
        exercises.check("hypothesis", released)

    def unscaled(rad, hva, s_r, s_v):
        return [a + b for a, b in zip(rad[0], hva[0])], rad[1] + hva[1]

    with pytest.raises(exercises.ExerciseFailed, match="multiplied by its conditioning scale"):
        exercises.check("fusion", unscaled)

    def overlap(heat, masks):
        return (heat * masks).sum((1, 2)) / heat.sum((1, 2))

    with pytest.raises(exercises.ExerciseFailed, match="does not count overlap"):
        exercises.check("pointing_game", overlap)

    def transposed(xs, ys, size, sigma, out):
        return np.zeros((out[0], out[1]), np.float32)

    with pytest.raises(exercises.ExerciseFailed, match="swap width and height"):
        exercises.check("hva_map", transposed)


@pytest.mark.slow  # builds the student edition
def test_the_student_edition_has_every_exercise_stubbed_and_checked(tmp_path):
    zpath = course.build_course(tmp_path / "course")
    names = sorted(p.name for p in (tmp_path / "course").glob("*.ipynb"))
    assert names == sorted(f"{c}.ipynb" for c in CHAPTERS)
    for chapter, name in CHAPTERS.items():
        nb = jupytext.read(tmp_path / "course" / f"{chapter}.ipynb")
        sources = [c.source for c in nb.cells if c.cell_type == "code"]
        assert "os.chdir" in sources[0]  # runs from the study's root
        k = next(i for i, s in enumerate(sources) if "raise NotImplementedError()" in s)
        assert f'exercises.check("{name}"' in sources[k + 1]  # each exercise followed by its check
        assert not any(course.BEGIN in s for s in sources)
    with zipfile.ZipFile(zpath) as z:
        assert sorted(z.namelist()) == sorted(["course/README.md", *(f"course/{n}" for n in names)])
    assert course.build_course(tmp_path / "course").read_bytes() == zpath.read_bytes()  # same bytes every build


def test_an_unclosed_solution_region_is_refused():
    with pytest.raises(ValueError, match="marker"):
        course.student_source("def f():\n    ### BEGIN SOLUTION\n    return 1\n")


@pytest.mark.slow  # builds the student edition
def test_the_teaching_page_gets_the_zip_and_the_lesson_runs_timings(tmp_path):
    from radgazegen.study import publish

    book = tmp_path / "book"
    (book / "lesson").mkdir(parents=True)

    class NoRuns:
        def run_dir(self, profile):
            return tmp_path / "runs" / profile

    out = publish.teaching_files(book, NoRuns(), tmp_path / 'course')
    assert (out / course.ZIP_NAME).stat().st_size > 0
    assert "No `lesson` run" in (out / "lesson-timings.md").read_text()
    (book / "lesson" / "progress.log").write_text(
        "2026-01-01T00:00:00Z machine: commit abc; Python 3.11; CPU x 2; GPU none\n"
        "2026-01-01T00:00:00Z [lesson] 00_a: done in 30.0 s\n2026-01-01T00:01:00Z [lesson] 04_b: done in 90.4 s\n")
    text = (publish.teaching_files(book, NoRuns(), tmp_path / 'course') / "lesson-timings.md").read_text()
    assert "| 00_a | 30 |" in text and "| 04_b | 90 |" in text and "**120** (2.0 min)" in text and "CPU x 2" in text


@pytest.mark.slow  # builds the student edition
def test_the_student_edition_reads_the_chosen_profiles_run(tmp_path):
    course.build_course(tmp_path / "course", profile="lesson")
    nb = jupytext.read(tmp_path / "course" / "13_gaze_localisation.ipynb")
    k = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nb.cells[k + 1]
    assert "injected-parameters" in injected.metadata["tags"]
    assert "profile = 'lesson'" in injected.source and "run_dir = 'runs/lesson'" in injected.source
    assert "lesson" in (tmp_path / "course" / "README.md").read_text()
