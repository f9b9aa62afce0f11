"""The readers users run on the real releases, tested on the synthetic cohort's files."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import radgazegen  # noqa: F401  (torchvision shim before torchxrayvision)
from radgazegen import data
from radgazegen.synthetic import read_ground_truth

from conftest import SMALL_COHORT as CONFIG


@pytest.fixture
def cohort(small_cohort) -> Path:
    return small_cohort  # conftest.py: one cohort per session


@pytest.fixture()
def copy(cohort, tmp_path) -> Path:
    """A private copy of the cohort that a test may damage."""
    return Path(shutil.copytree(cohort, tmp_path / "cohort"))


def roots(root: Path) -> dict[str, Path]:
    return {"jpg": root / "mimic-cxr-jpg", "reports": root / "mimic-cxr", "reflacx": root / "reflacx",
            "egd": root / "egd-cxr", "chexpert": root / "chexpert", "lt": root / "mimic-cxr-lt"}


def test_round_trip_counts_and_fields(cohort):
    r = roots(cohort)
    summary = pd.read_json(cohort / "ground_truth" / "cohort.json", typ="series")["counts"]
    mimic = data.read_mimic_cxr(r["jpg"], r["reports"])
    assert len(mimic) == CONFIG.n_mimic
    assert all(rec.report and rec.image_path.exists() and rec.image_size == (256, 256) for rec in mimic)
    assert {rec.split for rec in mimic} <= {"train", "validate", "test"}
    reflacx = data.read_reflacx(r["reflacx"], r["jpg"])
    assert reflacx.stats["readings_eye_tracking_discarded"] == CONFIG.reflacx_discarded_readings
    assert len(reflacx) == summary["reflacx_readings"] - CONFIG.reflacx_discarded_readings
    assert all(len(rec.fixations) and len(rec.words) and rec.report for rec in reflacx)
    assert reflacx.stats["fixations_outside_image"] > 0
    egd = data.read_egd_cxr(r["egd"], r["jpg"])
    assert len(egd) == summary["egd_cxr_images"] and egd.stats["fixations_outside_image"] > 0
    assert all(len(rec.words) and rec.report for rec in egd)
    chex = data.read_chexpert(r["chexpert"])
    assert len(chex) == CONFIG.n_chexpert and all(rec.report for rec in chex)
    lt = data.read_mimic_lt(r["lt"], r["jpg"])
    assert len(lt) == CONFIG.n_mimic and {rec.split for rec in lt} == {"train", "balanced-val", "test", "balanced-test"}
    for recs in (mimic, reflacx, egd, chex, lt):
        assert data.load_image(recs[0]).shape == (256, 256)
        frame = data.records_frame(recs)
        assert len(frame) == len(recs)


def test_gaze_is_on_the_image_and_in_seconds(cohort):
    r = roots(cohort)
    for recs in (data.read_reflacx(r["reflacx"], r["jpg"]), data.read_egd_cxr(r["egd"], r["jpg"])):
        for rec in recs:
            f = rec.fixations
            assert list(f.columns) == ["x", "y", "start", "end"]
            assert f.x.between(0, rec.image_size[0] - 1).all() and f.y.between(0, rec.image_size[1] - 1).all()
            assert (f.end > f.start).all() and f.start.min() >= 0
            assert (rec.words.end >= rec.words.start).all()


def test_reflacx_boxes_match_the_ground_truth(cohort):
    r = roots(cohort)
    truth = read_ground_truth(cohort)
    checked = 0
    readings = data.read_reflacx(r["reflacx"], r["jpg"])
    for rec in readings:
        gt = truth[truth.dicom_id == rec.dicom_id]
        if rec.extra["phase"] == 3:  # a single reader reports every finding; multi-reader readers may miss some
            assert len(rec.boxes) >= len(gt)
        for b in rec.boxes:
            dist = np.abs(gt[["xmin", "ymin", "xmax", "ymax"]].to_numpy() - [b.xmin, b.ymin, b.xmax, b.ymax]).max(axis=1)
            assert dist.min() <= 0.2 * 256, (rec.reading_id, b)
            checked += 1
    assert checked > 10
    # together, the readers of each multi-reader image outline every finding that one of them saw
    multi = [rec for rec in readings if rec.extra["phase"] in (1, 2)]
    assert multi and all(len(truth[truth.dicom_id == rec.dicom_id]) >= len({b.label for b in rec.boxes}) for rec in multi)


def test_torchxrayvision_reads_the_synthetic_mimic_layout(cohort):
    import torchxrayvision as xrv

    jpg = cohort / "mimic-cxr-jpg"
    ds = xrv.datasets.MIMIC_Dataset(imgpath=str(jpg / "files"), csvpath=str(jpg / "mimic-cxr-2.0.0-chexpert.csv.gz"),
                                    metacsvpath=str(jpg / "mimic-cxr-2.0.0-metadata.csv.gz"), views=["PA"],
                                    unique_patients=False)
    assert len(ds) == CONFIG.n_mimic
    sample = ds[0]
    assert sample["img"].shape == (1, 256, 256)


# ------------------------------------------------------------------ bad input
def test_missing_file_is_named(copy):
    r = roots(copy)
    (r["jpg"] / "mimic-cxr-2.0.0-split.csv.gz").unlink()
    with pytest.raises(data.DataError, match=r"mimic-cxr-2\.0\.0-split\.csv\.gz: missing file"):
        data.read_mimic_cxr(r["jpg"], r["reports"])


def test_missing_column_is_named(copy):
    r = roots(copy)
    path = r["reflacx"] / "main_data" / "metadata_phase_3.csv"
    pd.read_csv(path).drop(columns=["image_size_x"]).to_csv(path, index=False)
    with pytest.raises(data.DataError, match=r"metadata_phase_3\.csv: missing column\(s\) \['image_size_x'\]"):
        data.read_reflacx(r["reflacx"], r["jpg"])


def test_unknown_label_is_named(copy):
    r = roots(copy)
    path = r["chexpert"] / "test_labels.csv"
    pd.read_csv(path).rename(columns={"Edema": "Oedema"}).to_csv(path, index=False)
    with pytest.raises(data.DataError, match=r"test_labels\.csv: unknown label column\(s\) \['Oedema'\]"):
        data.read_chexpert(r["chexpert"])


def test_non_numeric_value_is_named(copy):
    r = roots(copy)
    path = r["egd"] / "fixations.csv"
    fix = pd.read_csv(path)
    fix["FPOGD"] = fix["FPOGD"].astype(object)
    fix.loc[3, "FPOGD"] = "fast"
    fix.to_csv(path, index=False)
    with pytest.raises(data.DataError, match=r"fixations\.csv: column 'FPOGD' has non-numeric value 'fast'"):
        data.read_egd_cxr(r["egd"], r["jpg"])


def test_corrupt_image_is_named(copy):
    r = roots(copy)
    rec = data.read_mimic_cxr(r["jpg"], r["reports"])[0]
    rec.image_path.write_bytes(b"\xff\xd8 not a jpeg at all")
    with pytest.raises(data.DataError, match=rf"{rec.dicom_id}\.jpg: corrupt or unreadable image"):
        data.load_image(rec)
    with pytest.raises(data.DataError, match="corrupt or unreadable image"):
        data.read_mimic_cxr(r["jpg"], r["reports"], verify_images=True)


def test_image_size_disagreeing_with_metadata_is_named(copy):
    r = roots(copy)
    rec = data.read_mimic_cxr(r["jpg"], r["reports"])[0]
    rec.image_size = (300, 256)
    with pytest.raises(data.DataError, match=r"image_size is \(256, 256\) but the metadata says \(300, 256\)"):
        data.load_image(rec)


def test_off_image_gaze_is_dropped_and_counted(copy):
    r = roots(copy)
    before = data.read_reflacx(r["reflacx"], r["jpg"])
    rec = before[0]
    w, h = rec.image_size
    path = r["reflacx"] / "main_data" / rec.reading_id / "fixations.csv"
    fix = pd.read_csv(path)
    head = fix.iloc[:7]
    already_off = int((~(head.x_position.between(0, w - 1) & head.y_position.between(0, h - 1))).sum())
    fix.loc[:4, "x_position"] = -50          # left of the image
    fix.loc[5:6, "y_position"] = 10_000      # below it
    fix.to_csv(path, index=False)
    after = data.read_reflacx(r["reflacx"], r["jpg"])
    assert after.stats["fixations_outside_image"] == before.stats["fixations_outside_image"] + 7 - already_off
    assert len(after[0].fixations) == len(rec.fixations) - (7 - already_off)
