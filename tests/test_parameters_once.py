"""Each parameter is declared once (issue 27): the notebook's parameters cell is the declaration
(smoke's value, or a documented default); a profile's file holds only what differs from it."""
from __future__ import annotations

import ast

import pytest

from radgazegen.study.parameters import declared_parameters, load_parameters_file
from radgazegen.study.runner import Study

STUDY = Study()


@pytest.mark.parametrize("profile", STUDY.profiles())
def test_no_profile_key_repeats_the_notebooks_default(profile):
    repeats = []
    for step in STUDY.steps(profile):
        declared = declared_parameters(step.path)
        for key, value in load_parameters_file(step.params_file).items():
            assert key in declared, f"{step.params_file}: {key!r} is not a parameter of {step.path.name}"
            try:
                default = ast.literal_eval(declared[key]["default"])
            except ValueError:
                continue
            if default == value and type(default) is type(value):
                repeats.append(f"{step.params_file.name}: {key}")
    assert not repeats, f"params/{profile}: keys equal to the notebook's default (delete them): {repeats}"


def test_study_constants_differ_from_every_default():
    for profile in STUDY.profiles():
        shared = STUDY.params / profile / "_study.yml"
        if not shared.is_file():
            continue
        for key, value in load_parameters_file(shared).items():
            defaults = [ast.literal_eval(declared_parameters(s.path)[key]["default"]) for s in STUDY.steps(profile)
                        if key in declared_parameters(s.path)]
            assert defaults and any(d != value for d in defaults), f"{shared}: {key} repeats every notebook's default"
