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


@pytest.mark.slow  # reads every chapter's parameters cell: about 18 s here
def test_the_gpu_rehearsal_runs_teach_from_04_at_smoke_sizes_on_teachs_code_path():
    """``make gpu-teach-rehearsal``'s overrides: each size teach sets from 04 on at smoke's value
    (smoke's file, else the default), paths and the concurrency (a code path) left as teach's;
    every override parses and names a parameter its notebook declares."""
    from radgazegen.study.gpu_run import rehearsal_overrides
    from radgazegen.study.parameters import parse_override

    overrides = rehearsal_overrides("teach", "smoke", "04")
    parsed = {(t, k): v for t, k, v in (parse_override(o, {s.name for s in STUDY.steps("teach")}) for o in overrides)}
    assert parsed[("04_sd_cxr", "sd_source")] == "tiny" and parsed[("05_rad_cn", "max_steps")] == 8
    assert parsed[("06_hva_cn", "lr")] == 1e-4  # smoke sets none: the notebook's default
    assert not [k for k in parsed if k[0] < "04" or k[1] in ("concurrent_models", "mimic_cxr_jpg_root")]
    for (target, key), _ in parsed.items():
        assert key in declared_parameters(STUDY.notebooks / f"{target}.py"), (target, key)
