"""The synthetic cohort follows the real releases' value conventions (../shared/notes/datasets.md).

One test per convention; each reads the cohort's raw files the way the maintainers' code
reads the real ones, so code written against the cohort reads the real files the same way.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radgazegen import data
from radgazegen.controls import gaze
from radgazegen.core.labels import CHEXPERT_LABELS, EGD_CHEXPERT_COLUMNS, FINDING_KEYWORDS
from radgazegen.synthetic import CohortConfig, generate_cohort, read_ground_truth

CONFIG = CohortConfig(seed=11, n_mimic=80, n_chexpert=6, image_size=(320, 384), reflacx_multi_reader_images=6,
                      egd_reflacx_overlap=2)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("conventions")
    generate_cohort(root, CONFIG, progress=False)
    return root


def reflacx_meta(cohort: Path) -> pd.DataFrame:
    main = cohort / "reflacx" / "main_data"
    return pd.concat([pd.read_csv(main / f"metadata_phase_{k}.csv").assign(phase=k) for k in (1, 2, 3)],
                     ignore_index=True)


def live_readings(cohort: Path):
    meta = reflacx_meta(cohort)
    for row in meta[~meta.eye_tracking_data_discarded].itertuples():
        yield row, cohort / "reflacx" / "main_data" / row.id


# ------------------------------------------------------------------ 1. EGD-CXR padding and mapping
def test_egd_pads_are_screen_pixels_and_the_official_mapping_gives_x_original(cohort):
    egd = cohort / "egd-cxr"
    master = pd.read_csv(egd / "master_sheet.csv").set_index("dicom_id")
    meta = pd.read_csv(cohort / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv.gz").set_index("dicom_id")
    fix = pd.read_csv(egd / "fixations.csv")
    fix = fix[fix.DICOM_ID.isin(master.index)]
    m = master.loc[fix.DICOM_ID]
    w, h = meta.loc[fix.DICOM_ID, "Columns"].to_numpy(), meta.loc[fix.DICOM_ID, "Rows"].to_numpy()
    left, right = m.image_left_pad.to_numpy(), m.image_right_pad.to_numpy()
    top, bottom = m.image_top_pad.to_numpy(), m.image_bottom_pad.to_numpy()
    # the image is shown fitted, aspect kept, on the 1920x1080 screen: the pads are what is left
    shown_w, shown_h = 1920 - left - right, 1080 - top - bottom
    assert ((shown_w == 1920) | (shown_h == 1080)).all()
    assert np.allclose(shown_w / shown_h, w / h, rtol=0.01)
    # the release's mapping, truncated; -1 outside the shown image
    x = (w / (1920 - left - right) * (fix.FPOGX.to_numpy() * 1920 - left)).astype(int)
    y = (h / (1080 - top - bottom) * (fix.FPOGY.to_numpy() * 1080 - top)).astype(int)
    on = (fix.X_ORIGINAL != -1).to_numpy()
    assert on.mean() > 0.9 and (~on).any()
    assert (x[on] == fix.X_ORIGINAL[on]).all() and (y[on] == fix.Y_ORIGINAL[on]).all()
    px = fix.FPOGX.to_numpy() * 1920
    assert ((px[~on] < left[~on]) | (px[~on] >= 1920 - right[~on])).all()


# ------------------------------------------------------------------ 2. REFLACX transcripts
def test_reflacx_tokens_keep_punctuation_and_case_and_rejoin_to_the_transcription(cohort):
    n = 0
    for _, d in live_readings(cohort):
        words = pd.read_csv(d / "timestamps_transcription.csv", keep_default_na=False)
        text = (d / "transcription.txt").read_text()
        assert text.replace(".", " .").replace(",", " ,") == " ".join(words.word)
        assert "." in set(words.word) and words.word.str.match(r"^[A-Z]").any()
        # sentence boundaries from the tokens, as on the real files
        starts = gaze.sentence_starts(words.rename(columns={"timestamp_start_word": "start",
                                                            "timestamp_end_word": "end"}))
        assert len(starts) == text.count(". ") + 1
        n += 1
    assert n > 20


def test_reflacx_commas_are_tokens(cohort):
    tokens = pd.concat([pd.read_csv(d / "timestamps_transcription.csv", keep_default_na=False).word
                        for _, d in live_readings(cohort)])
    assert (tokens == ",").any() and not tokens.str.contains(r"\w[.,]$").any()


# ------------------------------------------------------------------ 3. REFLACX windowing
def test_reflacx_window_is_a_fraction_of_the_intensity_range(cohort):
    for _, d in live_readings(cohort):
        fix = pd.read_csv(d / "fixations.csv")
        assert fix.window_width.between(0, 1).all() and fix.window_level.between(0, 1).all()


# ------------------------------------------------------------------ 4. EGD-CXR master sheet
def test_egd_master_sheet(cohort):
    master = pd.read_csv(cohort / "egd-cxr" / "master_sheet.csv", keep_default_na=False, dtype=str)
    assert (master[["Normal", "CHF", "pneumonia"]].astype(int).sum(axis=1) == 1).all()
    for k in range(1, 10):
        assert f"dx{k}" in master.columns and f"dx{k}_icd" in master.columns
    assert "normal_reports" in master.columns
    assert master.anchor_age.str.fullmatch(r"\d+ - \d+").all()
    chex = pd.read_csv(cohort / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-chexpert.csv.gz", keep_default_na=False,
                       dtype=str).set_index("study_id")
    for row in master.itertuples():
        for label, col in EGD_CHEXPERT_COLUMNS.items():  # 1 / 0 / -1 / blank the same way
            assert getattr(row, col) == chex.loc[row.study_id, label], (row.dicom_id, label)
    values = set(chex[list(CHEXPERT_LABELS)].to_numpy().ravel())
    assert values <= {"1.0", "0.0", "-1.0", ""} and {"1.0", ""} <= values


# ------------------------------------------------------------------ 5. REFLACX discarded readings
def test_discarded_readings_are_in_phases_1_2_and_hold_only_labels(cohort):
    meta = reflacx_meta(cohort)
    gone = meta[meta.eye_tracking_data_discarded]
    assert len(gone) == CONFIG.reflacx_discarded_readings and set(gone.phase) <= {1, 2}
    for rid in gone.id:
        files = sorted(p.name for p in (cohort / "reflacx" / "main_data" / rid).iterdir())
        assert files == ["anomaly_location_ellipses.csv", "chest_bounding_box.csv"]
    records = data.read_reflacx(cohort / "reflacx", cohort / "mimic-cxr-jpg")
    assert records.stats["readings_eye_tracking_discarded"] == len(gone)
    assert not set(gone.id) & {r.reading_id for r in records}


# ------------------------------------------------------------------ 6. REFLACX ids
def test_reflacx_ids_carry_their_phase(cohort):
    meta = reflacx_meta(cohort)
    assert meta.id.str.fullmatch(r"P[123]\d{2}R\d+").all()
    assert (meta.id.str[1].astype(int) == meta.phase).all()
    assert meta[meta.phase == 3].id.str.startswith("P300R").all()
    assert meta.id.is_unique


# ------------------------------------------------------------------ 7. REFLACX screen geometry
def test_reflacx_screen_geometry_and_gaze_columns(cohort):
    fix_cols = list(pd.read_csv(next(live_readings(cohort))[1] / "fixations.csv").columns)
    on_image = []
    for row, d in live_readings(cohort):
        fix = pd.read_csv(d / "fixations.csv")
        r = fix.iloc[0]
        assert 0 <= r.xmin_in_screen_coordinates < r.xmax_in_screen_coordinates <= 3840
        assert 0 <= r.ymin_in_screen_coordinates < r.ymax_in_screen_coordinates <= 2160
        shown = ((r.xmax_shown_from_image - r.xmin_shown_from_image), (r.ymax_shown_from_image - r.ymin_shown_from_image))
        screen = ((r.xmax_in_screen_coordinates - r.xmin_in_screen_coordinates),
                  (r.ymax_in_screen_coordinates - r.ymin_in_screen_coordinates))
        assert shown == (row.image_size_x, row.image_size_y)
        assert screen[0] / shown[0] == pytest.approx(screen[1] / shown[1], rel=0.01)  # aspect kept
        # pixels per degree in image pixels: about 60-70 screen pixels per degree
        assert 55 < r.angular_resolution_x_pixels_per_degree * screen[0] / shown[0] < 75
        on_image += fix.x_position.between(r.xmin_shown_from_image, r.xmax_shown_from_image - 1).tolist()
        raw = pd.read_csv(cohort / "reflacx" / "gaze_data" / row.id / "gaze.csv")
        assert list(raw.columns) == ["timestamp_sample", *fix_cols[2:]] and len(raw.columns) == 16
    assert 0.9 < np.mean(on_image) < 1  # a few fixations land beside the image, on the screen


# ------------------------------------------------------------------ 8. EGD-CXR transcripts
def test_egd_transcripts_are_word_level_and_windows_work_on_them(cohort):
    truth = read_ground_truth(cohort)
    single, windows = [], 0
    for rec in data.read_egd_cxr(cohort / "egd-cxr", cohort / "mimic-cxr-jpg"):
        tr = json.loads((cohort / "egd-cxr" / "audio_segmentation_transcripts" / rec.dicom_id / "transcript.json").read_text())
        phrases = tr["time_stamped_text"]
        single += [len(p["phrase"].split()) == 1 for p in phrases]
        assert all(p["begin_time"] <= p["end_time"] for p in phrases)
        for f in truth[truth.dicom_id == rec.dicom_id].itertuples():
            win = gaze.finding_window(rec.words, FINDING_KEYWORDS[f.label])
            assert win is not None and win[0] < win[1], (rec.dicom_id, f.label)
            windows += 1
    assert np.mean(single) > 0.8 and windows > 5


# ------------------------------------------------------------------ 9. MIMIC-CXR-JPG metadata
def test_mimic_study_date_and_time_are_valid(cohort):
    meta = pd.read_csv(cohort / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv.gz", dtype={"StudyTime": str})
    for date, time in zip(meta.StudyDate.astype(str), meta.StudyTime):
        d = dt.datetime.strptime(date, "%Y%m%d")
        assert 2100 <= d.year <= 2200
        hhmmss, frac = time.split(".")
        dt.datetime.strptime(hhmmss.zfill(6), "%H%M%S")
        assert len(frac) == 3


# ------------------------------------------------------------------ 10. CheXpert test
def test_chexpert_test_patients_and_label_values(cohort):
    text = (cohort / "chexpert" / "test_labels.csv").read_text().splitlines()
    labels = pd.read_csv(cohort / "chexpert" / "test_labels.csv")
    ids = labels.Path.str.extract(r"patient(\d+)")[0].astype(int)
    assert ids.between(64741, 65240).all()
    assert all(set(line.split(",")[1:]) <= {"0", "1"} for line in text[1:])


# ------------------------------------------------------------------ 12. realism: readers disagree
def test_multi_reader_readers_disagree(cohort):
    meta = reflacx_meta(cohort)
    multi = meta[meta.phase < 3]
    label_cols = [c for c in multi.columns if c not in ("id", "split", "eye_tracking_data_discarded", "image",
                                                          "dicom_id", "subject_id", "image_size_x", "image_size_y",
                                                          "phase", "Other")]
    per_image = multi.groupby("dicom_id").apply(lambda g: len({tuple(v >= 3 for v in r) for r in g[label_cols].astype(float).to_numpy()}))
    assert (per_image > 1).any()  # at least one image on which readers' positive labels differ
    assert multi.groupby("dicom_id").size().min() >= CONFIG.readers_per_multi_image - 1


@pytest.mark.slow  # a real-size cohort
def test_real_size_cohort_through_readers_and_maps(tmp_path):
    """Radiographs at real sizes (about 2500x3000, varying aspect): readers, HVA and control maps."""
    from radgazegen import controls

    cfg = CohortConfig(seed=5, n_mimic=19, n_chexpert=1, real_sizes=True, lt_balanced_val_per_class=0,
                       lt_balanced_test_per_class=0, egd_fraction=0.2, reflacx_fraction=0.4,
                       reflacx_multi_reader_images=1, egd_reflacx_overlap=1, reflacx_discarded_readings=0)
    generate_cohort(tmp_path, cfg, progress=False)
    mimic = data.read_mimic_cxr(tmp_path / "mimic-cxr-jpg", tmp_path / "mimic-cxr", verify_images=True)
    sizes = {r.image_size for r in mimic}
    assert len(sizes) > 5 and all(2300 <= w <= 3050 and 2500 <= h <= 3056 for w, h in sizes)
    reflacx = data.read_reflacx(tmp_path / "reflacx", tmp_path / "mimic-cxr-jpg")
    egd = data.read_egd_cxr(tmp_path / "egd-cxr", tmp_path / "mimic-cxr-jpg")
    truth = read_ground_truth(tmp_path)
    for rec in [*reflacx[:2], *egd[:2]]:
        img = data.load_image(rec)
        assert (img.shape[1], img.shape[0]) == rec.image_size
        m = gaze.hva_map(rec.fixations, rec.image_size, sigma_px=64.0, out_size=(512, 512))
        assert m.shape == (512, 512) and m.max() == pytest.approx(1.0)
        for f in truth[truth.dicom_id == rec.dicom_id].itertuples():  # the gaze dwells on each finding
            v = gaze.finding_hva(rec, FINDING_KEYWORDS[f.label], sigma_px=64.0)
            x0, y0, x1, y1 = gaze.box_to_grid((f.xmin, f.ymin, f.xmax, f.ymax), rec.image_size)
            peak = np.unravel_index(np.argmax(v), v.shape)
            assert x0 - 30 <= peak[1] <= x1 + 30 and y0 - 30 <= peak[0] <= y1 + 30, (rec.reading_id, f.label)
        maps = controls.radiomics_maps([img], size=None)
        assert all(v.shape == (1, *img.shape) for v in maps.values())
