"""Preflight for `full`: every external resource found, missing or replaced by a stand-in (issue 15)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from radgazegen.study import preflight as pf
from radgazegen.__main__ import main


def steps(**params):
    return [SimpleNamespace(name="03_hypotheses", params=dict(params)), SimpleNamespace(name="08_table1_fid", params=dict(params))]


def test_each_resource_is_found_missing_or_a_named_stand_in(tmp_path):
    jpg = tmp_path / "mimic cxr jpg ü"  # spaces and non-ASCII in the path
    (jpg / "files").mkdir(parents=True)
    for name in ("mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-split.csv.gz"):
        (jpg / name).write_bytes(b"")
    sd = tmp_path / "sd15"
    sd.mkdir()
    (sd / "model_index.json").write_text("{}")
    rows = {r["param"]: r for r in pf.check(steps(
        mimic_cxr_jpg_root=str(jpg), sd_source=str(sd), inception_weights="", clip_dir=str(tmp_path / "nowhere"),
        egd_cxr_root=str(tmp_path / "run" / "cohort"), xrv_weights_dir="tiny"), tmp_path / "run")}
    assert rows["mimic_cxr_jpg_root"]["status"] == "missing"
    assert rows["mimic_cxr_jpg_root"]["detail"].endswith("lacks mimic-cxr-2.0.0-chexpert.csv.gz")  # names the file
    assert rows["sd_source"]["status"] == "found"
    assert rows["inception_weights"]["status"] == "stand-in" and "study's own features" in rows["inception_weights"]["stand_in"]
    assert rows["clip_dir"]["status"] == "stand-in" and "does not exist" in rows["clip_dir"]["detail"]
    assert "egd_cxr_root" not in rows and "xrv_weights_dir" not in rows  # made by the run: not external
    assert rows["inception_weights"]["chapters"] == ["03_hypotheses", "08_table1_fid"]
    stops = pf.blocking(list(rows.values()), allow_stand_ins=False)
    assert {r["param"] for r in stops} == {"mimic_cxr_jpg_root", "inception_weights", "clip_dir"}
    assert [r["param"] for r in pf.blocking(list(rows.values()), allow_stand_ins=True)] == ["mimic_cxr_jpg_root"]
    text = pf.report("full", list(rows.values()))
    assert "1 of 4 external resources found" in text and "stand-in without it: FID on the study's own features" in text


def test_a_hub_id_counts_only_when_it_is_already_in_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (row,) = pf.check(steps(sd_source="runwayml/stable-diffusion-v1-5"), tmp_path / "run")
    assert row["status"] == "missing" and "not in the local Hugging Face cache" in row["detail"]


@pytest.mark.slow  # runs the runner
def test_full_stops_before_any_chapter_with_the_list(tmp_path, capsys):
    assert main(["run", "--profile", "full", "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "preflight (full)" in err and "missing  mimic_cxr_jpg_root" in err and "--allow-stand-ins" in err
    assert not (tmp_path / "runs" / "full" / "progress.log").exists()  # no chapter started
    assert main(["check", "--profile", "full"]) == 2
    assert main(["check", "--profile", "smoke"]) == 0  # stand-ins are allowed outside full


def test_only_the_chapters_a_run_executes_are_checked(tmp_path, capsys):
    """`run --only 03` executes 00-03 at most: Stable Diffusion's weights (04 on) are not its concern."""
    main(["run", "--profile", "full", "--only", "03", "--runs", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert "mimic_cxr_jpg_root" in err and "sd_source" not in err and "inception_weights" not in err
    main(["run", "--profile", "full", "--only", "04", "--runs", str(tmp_path / "runs")])
    assert "sd_source" in capsys.readouterr().err
