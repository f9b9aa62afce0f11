"""The synthetic cohort: determinism, the real datasets' layouts and columns, gaze timing."""
from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from radgazegen.synthetic import CohortConfig, generate_cohort, read_ground_truth
from radgazegen.core.labels import (
    CHEXPERT_LABELS, CHEXPERT_TEST_COLUMNS, FINDING_KEYWORDS, MIMIC_LT_CLASSES,
    REFLACX_LABELS_PHASE_1, REFLACX_LABELS_PHASE_2_3,
)

from conftest import SMALL, SMALL_COHORT  # noqa: E402

# The column lists of ../shared/notes/datasets.md, as the spec the writer must meet.
MIMIC_METADATA = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
                  "Rows", "Columns", "StudyDate", "StudyTime"]
REFLACX_META = ["id", "split", "eye_tracking_data_discarded", "image", "dicom_id", "subject_id",
                "image_size_x", "image_size_y"]
REFLACX_FIX = ["timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position",
               "pupil_area_normalized", "angular_resolution_x_pixels_per_degree",
               "angular_resolution_y_pixels_per_degree", "window_width", "window_level",
               "xmin_shown_from_image", "ymin_shown_from_image", "xmax_shown_from_image", "ymax_shown_from_image",
               "xmin_in_screen_coordinates", "ymin_in_screen_coordinates", "xmax_in_screen_coordinates",
               "ymax_in_screen_coordinates"]
EGD_GAZE = ["SESSION_ID", "MEDIA_ID", "DICOM_ID", "CNT", "Time (in secs)", "TIMETICK(f=10000000)", "FPOGX",
            "FPOGY", "FPOGS", "FPOGD", "FPOGID", "FPOGV", "BPOGX", "BPOGY", "BPOGV", "X_ORIGINAL", "Y_ORIGINAL"]
# MIMIC-CXR-LT's public label files: the 14 CheXpert labels alphabetically, then the five added classes
LT_COLUMNS = ["subject_id", "study_id", "dicom_id", "path", "Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
              "Enlarged Cardiomediastinum", "Fracture", "Lung Lesion", "Lung Opacity", "No Finding",
              "Pleural Effusion", "Pleural Other", "Pneumonia", "Pneumothorax", "Support Devices",
              "Pneumoperitoneum", "Pneumomediastinum", "Subcutaneous Emphysema", "Tortuous Aorta",
              "Calcification of the Aorta"]


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def cohort(small_cohort) -> Path:
    return small_cohort  # conftest.py: one cohort per session


def test_same_seed_gives_byte_identical_files(cohort, tmp_path):
    generate_cohort(tmp_path / "again", SMALL_COHORT, progress=False)
    first, second = digest(cohort), digest(tmp_path / "again")
    assert len(first) > 200 and first == second


def test_radiographs_drawn_in_worker_processes_give_the_same_files(cohort, tmp_path):
    """teach draws its 1,000 radiographs on every core: the files must not depend on it."""
    generate_cohort(tmp_path / "parallel", SMALL_COHORT, progress=False, workers=2)
    assert digest(tmp_path / "parallel") == digest(cohort)


def test_other_seed_gives_other_files(cohort, tmp_path):
    generate_cohort(tmp_path / "other", CohortConfig(seed=SMALL_COHORT.seed + 1, **SMALL), progress=False)
    a, b = digest(cohort), digest(tmp_path / "other")
    assert a["ground_truth/findings.csv"] != b["ground_truth/findings.csv"]


def test_mimic_layout(cohort):
    jpg = cohort / "mimic-cxr-jpg"
    meta = pd.read_csv(jpg / "mimic-cxr-2.0.0-metadata.csv.gz")
    assert list(meta.columns[: len(MIMIC_METADATA)]) == MIMIC_METADATA
    assert list(pd.read_csv(jpg / "mimic-cxr-2.0.0-split.csv.gz").columns) == ["dicom_id", "study_id", "subject_id", "split"]
    for name in ("chexpert", "negbio"):
        chex = pd.read_csv(jpg / f"mimic-cxr-2.0.0-{name}.csv.gz")
        assert list(chex.columns) == ["subject_id", "study_id", *CHEXPERT_LABELS]
        values = chex[list(CHEXPERT_LABELS)].to_numpy().ravel()
        assert set(values[~np.isnan(values)]) <= {1.0, 0.0, -1.0}
    # gzip members carry no timestamp (byte-identical reruns)
    assert gzip.open(jpg / "mimic-cxr-2.0.0-split.csv.gz").read()
    assert (jpg / "mimic-cxr-2.0.0-split.csv.gz").read_bytes()[4:8] == b"\0\0\0\0"
    for row in meta.itertuples():
        sub, stu = str(row.subject_id), str(row.study_id)
        path = jpg / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{stu}" / f"{row.dicom_id}.jpg"
        assert Image.open(path).size == (row.Columns, row.Rows)
        report = (cohort / "mimic-cxr" / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{stu}.txt").read_text()
        assert "FINDINGS:" in report and "IMPRESSION:" in report


def test_reflacx_layout(cohort):
    main = cohort / "reflacx" / "main_data"
    readers_per_image = {}
    for phase, vocab in ((1, REFLACX_LABELS_PHASE_1), (2, REFLACX_LABELS_PHASE_2_3), (3, REFLACX_LABELS_PHASE_2_3)):
        meta = pd.read_csv(main / f"metadata_phase_{phase}.csv")
        assert list(meta.columns) == REFLACX_META + list(vocab)
        for row in meta.itertuples():
            readers_per_image[row.dicom_id] = readers_per_image.get(row.dicom_id, 0) + 1
            assert re.fullmatch(r"P\d{3}R\d{6}", row.id)
            assert row.image.startswith("physionet.org/files/mimic-cxr/2.0.0/files/p") and row.image.endswith(".dcm")
            d = main / row.id
            if row.eye_tracking_data_discarded:  # phases 1-2 only; the folder keeps labels and ellipses only
                assert phase in (1, 2)
                assert sorted(p.name for p in d.iterdir()) == ["anomaly_location_ellipses.csv", "chest_bounding_box.csv"]
                assert not (cohort / "reflacx" / "gaze_data" / row.id).exists()
                continue
            assert list(pd.read_csv(d / "fixations.csv").columns) == REFLACX_FIX
            assert list(pd.read_csv(d / "timestamps_transcription.csv").columns) == [
                "word", "timestamp_start_word", "timestamp_end_word"]
            assert list(pd.read_csv(d / "chest_bounding_box.csv").columns) == ["xmin", "ymin", "xmax", "ymax"]
            assert list(pd.read_csv(d / "anomaly_location_ellipses.csv").columns) == [
                "xmin", "ymin", "xmax", "ymax", "certainty", *vocab]
            assert (d / "transcription.txt").read_text()
            assert (cohort / "reflacx" / "gaze_data" / row.id / "gaze.csv").exists()
    assert sorted(set(readers_per_image.values())) == [1, 5]
    assert sum(v == 5 for v in readers_per_image.values()) == SMALL["reflacx_multi_reader_images"]
    discarded = [pd.read_csv(main / f"metadata_phase_{k}.csv")["eye_tracking_data_discarded"].sum() for k in (1, 2, 3)]
    assert sum(discarded) == CohortConfig().reflacx_discarded_readings and discarded[2] == 0


def test_egd_layout(cohort):
    egd = cohort / "egd-cxr"
    master = pd.read_csv(egd / "master_sheet.csv")
    assert master.columns[0] == "dicom_id" and "path" in master.columns and "cxr_exam_indication" in master.columns
    assert any(c.endswith("__chx") for c in master.columns)
    for name in ("fixations.csv", "eye_gaze.csv"):
        assert list(pd.read_csv(egd / name).columns) == EGD_GAZE
    fix = pd.read_csv(egd / "fixations.csv")
    assert ((fix.X_ORIGINAL == -1) == (fix.Y_ORIGINAL == -1)).all() and (fix.X_ORIGINAL == -1).any()
    assert fix.FPOGX.between(0, 1).mean() > 0.9
    assert list(pd.read_csv(egd / "bounding_boxes.csv").columns) == ["dicom_id", "bbox_name", "x1", "x2", "y1", "y2"]
    for did in master.dicom_id:
        t = egd / "audio_segmentation_transcripts" / did
        tr = json.loads((t / "transcript.json").read_text())
        assert set(tr) == {"full_text", "time_stamped_text"}
        assert set(tr["time_stamped_text"][0]) == {"phrase", "begin_time", "end_time"}
        for mask in ("left_lung.png", "right_lung.png", "mediastanum.png", "aortic_knob.png"):
            assert set(np.unique(np.asarray(Image.open(t / mask)))) <= {0, 255}


def test_chexpert_and_lt_layout(cohort):
    labels = pd.read_csv(cohort / "chexpert" / "test_labels.csv")
    assert list(labels.columns) == ["Path", *CHEXPERT_TEST_COLUMNS]
    assert labels.Path.str.fullmatch(r"test/patient\d+/study1/view1_frontal\.jpg").all()
    assert list(pd.read_csv(cohort / "chexpert" / "reports.csv").columns) == ["name", "report"]
    cfg = CohortConfig(**SMALL)
    for split, per_class in (("balanced-val", cfg.lt_balanced_val_per_class),
                             ("balanced-test", cfg.lt_balanced_test_per_class), ("train", None), ("test", None)):
        lt = pd.read_csv(cohort / "mimic-cxr-lt" / f"mimic-cxr-lt_single-label_{split}.csv")
        assert list(lt.columns) == LT_COLUMNS
        assert (lt[list(MIMIC_LT_CLASSES)].sum(axis=1) == 1).all()
        if per_class is not None:
            assert (lt[list(MIMIC_LT_CLASSES)].sum() == per_class).all()
        assert lt.path.str.fullmatch(r"files/p1\d/p\d{8}/s\d{8}/[0-9a-f-]{44}\.jpg").all()
    train = pd.read_csv(cohort / "mimic-cxr-lt" / "mimic-cxr-lt_single-label_train.csv")
    assert (train[list(MIMIC_LT_CLASSES)].sum() >= 1).all()


def test_gaze_dwells_on_each_finding_while_it_is_dictated(cohort):
    """Within [sentence start - 1.5 s, last keyword], most fixations fall on the finding."""
    truth = read_ground_truth(cohort)
    meta = pd.read_csv(cohort / "reflacx" / "main_data" / "metadata_phase_3.csv")
    inside, total = 0, 0
    for row in meta.itertuples():
        boxes = truth[truth.dicom_id == row.dicom_id]
        if len(boxes) != 1:
            continue
        f = boxes.iloc[0]
        d = cohort / "reflacx" / "main_data" / row.id
        words = pd.read_csv(d / "timestamps_transcription.csv", keep_default_na=False)
        fix = pd.read_csv(d / "fixations.csv")
        # sentences end at REFLACX's "." tokens
        starts = [0] + [i + 1 for i in words.index[words.word == "."] if i + 1 < len(words)]
        hits = words.index[words.word.str.lower().isin(FINDING_KEYWORDS[f.label])]
        assert len(hits), (row.id, f.label)
        sentence_start = max(i for i in starts if i <= hits[0])
        t0, t1 = words.timestamp_start_word[sentence_start] - 1.5, words.timestamp_end_word[hits[-1]]
        win = fix[(fix.timestamp_start_fixation >= t0) & (fix.timestamp_start_fixation <= t1)]
        pad = 6
        ok = win.x_position.between(f.xmin - pad, f.xmax + pad) & win.y_position.between(f.ymin - pad, f.ymax + pad)
        inside += int(ok.sum())
        total += len(win)
    assert total > 20
    assert inside / total > 0.6


LATERAL = {"Lung Opacity", "Atelectasis", "Pleural Effusion", "Pneumonia", "Pneumothorax", "Lung Lesion",
           "Fracture", "Consolidation", "Pneumoperitoneum", "Subcutaneous Emphysema"}


def test_reports_name_side_and_keyword(cohort):
    truth = read_ground_truth(cohort)
    meta = pd.read_csv(cohort / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv.gz")
    for row in meta.itertuples():
        sub, stu = str(row.subject_id), str(row.study_id)
        report = (cohort / "mimic-cxr" / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{stu}.txt").read_text().lower()
        for f in truth[truth.dicom_id == row.dicom_id].itertuples():
            assert any(k in report for k in FINDING_KEYWORDS[f.label]), (f.label, report)
            if f.side in ("right", "left") and f.label in LATERAL:
                assert f.side in report, (f.label, f.side, report)


@pytest.mark.parametrize("field, value", [("n_mimic", -1), ("image_size", (256.0, 256)),
                                          ("seed", "zero"), ("egd_fraction", 1.5), ("n_mimic", 10)])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"CohortConfig.{field}"):
        CohortConfig(**{**SMALL, field: value})


def test_existing_cohort_with_other_config_is_not_overwritten(cohort):
    before = digest(cohort)
    with pytest.raises(ValueError, match="another config"):
        generate_cohort(cohort, CohortConfig(seed=99, **SMALL), progress=False)
    assert digest(cohort) == before
