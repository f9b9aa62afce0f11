"""The paper's split rules (§4.1) and atomic artifact writes."""
from __future__ import annotations

from types import SimpleNamespace as R

import pytest

from radgazegen.core.io import atomic_path, write_text
from radgazegen.data.split import check_counts, overlap_summary, paper_split


def readings():
    reflacx = [
        # img-a: read by three radiologists -> held out for evaluation
        R(dicom_id="img-a", reading_id="P1R1"), R(dicom_id="img-a", reading_id="P1R2"),
        R(dicom_id="img-a", reading_id="P1R3"),
        # single-reader REFLACX images -> training
        R(dicom_id="img-b", reading_id="P3R1"), R(dicom_id="img-c", reading_id="P3R2"),
    ]
    egd = [
        R(dicom_id="img-c", reading_id="S1"),  # overlaps REFLACX: removed from EGD-CXR
        R(dicom_id="img-a", reading_id="S1"),  # a test image: never in training
        R(dicom_id="img-d", reading_id="S2"), R(dicom_id="img-e", reading_id="S2"),
    ]
    return reflacx, egd


def test_paper_split_rules():
    split = paper_split(*readings()).set_index("dicom_id")
    assert split.loc["img-a", "split"] == "test" and split.loc["img-a", "n_readers"] == 3
    assert split.loc["img-b", "split"] == "train" and split.loc["img-b", "gaze_source"] == "reflacx"
    # the overlap keeps its REFLACX reading, the EGD-CXR copy is removed
    assert split.loc["img-c", "gaze_source"] == "reflacx"
    assert set(split.index[split.gaze_source == "egd-cxr"]) == {"img-d", "img-e"}
    assert split.index.is_unique


def test_multi_reader_phase_stays_in_test_with_one_usable_reading():
    """REFLACX phases 1-2 are the five-reader images: discarded eye tracking can leave one reading."""
    reflacx = [R(dicom_id="img-f", reading_id="P203R1", extra={"phase": 2}),
               R(dicom_id="img-g", reading_id="P300R1", extra={"phase": 3})]
    split = paper_split(reflacx, []).set_index("dicom_id")
    assert split.loc["img-f", "split"] == "test" and split.loc["img-f", "n_readers"] == 1
    assert split.loc["img-g", "split"] == "train"


def test_overlap_summary_and_count_check():
    summary = overlap_summary(*readings())
    assert summary == {
        "egd_cxr_images": 4, "reflacx_images": 3, "reflacx_single_reader_images": 2,
        "reflacx_multi_reader_images": 1, "egd_reflacx_overlap": 2, "train": 4, "test": 1,
    }
    assert check_counts(summary, 4, 1) == []
    assert check_counts(summary, 3580, 110) == [
        "train: expected 3580 images, the data gave 4", "test: expected 110 images, the data gave 1"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = write_text(tmp_path / "metrics.csv", "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half writ")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]  # no temp file left behind
