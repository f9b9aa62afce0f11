"""Chapter 14's "Where this study departs from the paper" comes from the run's own parameters
(radgazegen.metrics.deviations), never from fixed prose."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from radgazegen.metrics.deviations import PAPER, deviations, run_parameters

REPO = Path(__file__).resolve().parents[1]
PAPER_TEXT = REPO.parent / "shared" / "paper" / "radgazegen-paper.txt"

LESSON = {  # a lesson run's parameters, as the runner passes them (the relevant ones)
    "00_synthetic_cohort": {"n_mimic": 1000, "image_width": 256, "image_height": 256,
                            "cohort_options": {"reflacx_multi_reader_images": 130}},
    "02_control_maps": {"control_size": 128, "canny_low": 40.0, "canny_high": 50.0, "gl_sigma": 1.0,
                        "hva_sigma_px": 64.0, "hva_lambda": 0.47, "lung_unet_weights": "", "pspnet_cache_dir": ""},
    "04_sd_cxr": {"sd_source": "lesson", "resolution": 64, "max_steps": 1000, "batch_size": 32, "grad_accum": 1,
                  "lr": 3e-4, "mixed_precision": "no", "proportion_empty_prompts": 0.1, "train_images": "mimic-train"},
    "05_rad_cn": {"design": "unified", "controls": ["canny", "sobel", "gl", "segmentation"], "resolution": 64,
                  "max_steps": 600, "epochs": 0, "batch_size": 32, "lr": 3e-4, "train_baselines": False},
    "06_hva_cn": {"rad_cn_scale": 1.0, "resolution": 64, "max_steps": 800, "epochs": 0, "batch_size": 32, "lr": 3e-4},
    "07_generation": {"scheduler": "unipc", "sample_steps": 10, "guidance": 3.0, "negative_prompt": "",
                      "rad_cn_scale": 1.0, "hva_cn_scale": 1.0, "n_replicates": 3, "roentgen_dir": "",
                      "methods_generated": ["SD", "Rad-CN", "HVA-CN", "RadGazeGen"]},
    "13_gaze_localisation": {"scheduler": "unipc", "sample_steps": 10, "guidance": 3.0, "rad_cn_scale": 1.0,
                             "hva_cn_scale": 1.0},
}


def text_of(params) -> str:
    return "\n".join(f"{where}: {text}" for where, text in deviations(params))


def test_a_lesson_runs_departures_name_its_values_beside_the_papers():
    text = text_of(LESSON)
    assert 'design "unified"' in text and "one ControlNet per map" not in text.split("unified")[0]
    assert "64 px" in text and "512 px" in text and "10 epochs" in text and "600 optimiser steps" in text
    assert "HVA-CN is trained over the frozen Rad-CN at conditioning scale 1" in text and "Eq. 5" in text
    assert "Conditioning scales Rad-CN 1, HVA-CN 1" in text and "0.001" in text and "0.1" in text
    assert "10 UniPC steps" in text and "50 UniPC steps" in text
    assert "Control maps are made at 128 px" in text and "1,000 MIMIC-CXR-style" in text
    assert "Moved gaze (13)" not in text  # it samples as chapter 07 does: said once
    assert "FID" not in text and "CLIP" not in text  # chapters the run did not include say nothing
    assert "Eq. 5 writes it" not in text and "oracle" not in text


def test_a_per_map_run_and_the_new_hva_cn_options_are_described():
    params = {**LESSON, "05_rad_cn": dict(LESSON["05_rad_cn"], design="per-map"),
              "06_hva_cn": dict(LESSON["06_hva_cn"], train_eq5=True, train_oracle=True),
              "13_gaze_localisation": dict(LESSON["13_gaze_localisation"], hva_cn_scale=0.5)}
    text = text_of(params)
    assert "one ControlNet per map (canny, sobel, gl, segmentation)" in text and "unified" not in text
    assert "as Eq. 5 writes it (800 optimiser steps): the gaze control alone, no Rad-CN" in text
    assert "oracle ControlNet" in text and "(800 optimiser steps): the ceiling" in text
    assert "Moved gaze (13): Conditioning scales Rad-CN 1, HVA-CN 0.5" in text
    sized = text_of({"06_hva_cn": dict(params["06_hva_cn"], eq5_steps=500, oracle_steps=0)})
    assert "Eq. 5 writes it (500 optimiser steps)" in sized and "like HVA-CN (500 optimiser steps)" in sized


def test_the_papers_own_settings_give_no_departure():
    same = {"07_generation": {"scheduler": "unipc", "sample_steps": PAPER["sample_steps"], "guidance": PAPER["guidance"],
                              "negative_prompt": PAPER["negative_prompt"], "rad_cn_scale": PAPER["rad_cn_scale"],
                              "hva_cn_scale": PAPER["hva_cn_scale"]},
            "02_control_maps": {"control_size": 512, "canny_low": 40.0, "canny_high": 50.0, "gl_sigma": 1.0,
                                "lung_unet_weights": "unet-6v.pt", "hva_sigma_px": 64.0, "hva_lambda": 0.47}}
    assert deviations(same) == []
    full = {"01_data_preparation": {}, "08_table1_fid": {"inception_weights": ""}, "09_table2_controllability": {"clip_dir": "/w"}}
    text = text_of(full)
    assert "one fewer" in text and "FID (study features)" in text and "CLIP score" not in text


def test_the_parameters_are_read_from_the_runners_record_or_the_executed_notebooks(tmp_path):
    state = tmp_path / "run" / ".state"
    state.mkdir(parents=True)
    (state / "05_rad_cn.json").write_text(json.dumps({"params": {"design": "unified"}, "key": "k"}))
    (state / "digests.json").write_text("{}")  # not a chapter's record
    assert run_parameters(tmp_path / "run") == {"05_rad_cn": {"design": "unified"}}
    committed = run_parameters(REPO / "book" / "lesson")  # papermill's record in the committed lesson run
    assert committed["05_rad_cn"]["design"] == "unified" and committed["04_sd_cxr"]["resolution"] == 64
    assert committed["05_rad_cn"]["epochs"] == 0  # a default of the chapter's parameters cell, not injected

    import nbformat  # an executed chapter in a run directory: its defaults, then what papermill injected

    cell = nbformat.v4.new_code_cell('design: str = "per-map"  # doc\ntrain_eq5: bool = True\nn = len([])\n',
                                     metadata={"tags": ["parameters"]})
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"papermill": {"parameters": {"design": "unified"}}})
    (tmp_path / "run" / "notebooks").mkdir()
    nbformat.write(nb, str(tmp_path / "run" / "notebooks" / "06_hva_cn.ipynb"))
    nbformat.write(nb, str(tmp_path / "run" / "notebooks" / "07_generation.running.ipynb"))
    assert run_parameters(tmp_path / "run") == {"06_hva_cn": {"design": "unified", "train_eq5": True}}
    assert "HVA-CN is trained over the frozen Rad-CN" in text_of(committed)
    assert run_parameters(tmp_path / "nothing") == {}


@pytest.mark.skipif(not PAPER_TEXT.exists(), reason="the paper's text is not beside this checkout")
def test_the_papers_settings_are_the_ones_it_prints():
    text = PAPER_TEXT.read_text()
    assert f"{PAPER['resolution']}×{PAPER['resolution']}" in text
    assert f"{PAPER['sd_steps']:,} steps" in text and f"{PAPER['cn_epochs']} epochs" in text
    assert re.search(r"learning rate of 1e - 05", text) and PAPER["lr"] == 1e-5
    assert f"batch size of {PAPER['batch_size']}" in text and f"set to {PAPER['grad_accum']}" in text
    assert f"'{PAPER['mixed_precision']}'" in text
