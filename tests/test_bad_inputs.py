"""Hostile inputs, all at once (issue 15): each gives an error naming the file and the field, or a
counted, reported skip, or is read correctly; nothing raises a bare library error."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import radgazegen  # noqa: F401  (torchvision shim)
from radgazegen import data

@pytest.fixture
def cohort(small_cohort) -> Path:
    return small_cohort  # conftest.py: one cohort per session (each case damages a copy)


def roots(root: Path) -> dict[str, Path]:
    return {"jpg": root / "mimic-cxr-jpg", "reports": root / "mimic-cxr", "reflacx": root / "reflacx",
            "egd": root / "egd-cxr", "chexpert": root / "chexpert", "lt": root / "mimic-cxr-lt"}


def first_image(r):
    return data.read_mimic_cxr(r["jpg"], r["reports"])[0]


def reflacx_fixations(r) -> Path:
    rec = data.read_reflacx(r["reflacx"], r["jpg"])[0]
    return r["reflacx"] / "main_data" / rec.reading_id / "fixations.csv"


def edit_csv(path: Path, fn) -> None:
    frame = pd.read_csv(path)
    out = fn(frame)  # None: edited in place; else the new frame
    (frame if out is None else out).to_csv(path, index=False)


def set_cell(frame, column, value):
    frame[column] = frame[column].astype(object)
    frame.loc[2, column] = value


# (case, damage(roots), read(roots), expected): expected is ("error", regex naming the file and field),
# ("stat", key, +n) for a counted skip, ("warn", regex) for a named warning and a read, or ("ok", check(result))
CASES = [
    ("zero-byte JPEG", lambda r: first_image(r).image_path.write_bytes(b""),
     lambda r: data.load_image(first_image(r)), ("error", r"\.jpg: corrupt or unreadable image")),
    ("truncated JPEG", lambda r: first_image(r).image_path.write_bytes(first_image(r).image_path.read_bytes()[:300]),
     lambda r: data.load_image(first_image(r)), ("error", r"\.jpg: corrupt or unreadable image")),
    ("PNG renamed .jpg", lambda r: first_image(r).image_path.write_bytes(
        cv2.imencode(".png", cv2.imread(str(first_image(r).image_path), 0))[1].tobytes()),
     lambda r: data.load_image(first_image(r)), ("ok", lambda im: im.dtype == np.uint8 and im.shape == (256, 256))),
    ("16-bit image", lambda r: first_image(r).image_path.write_bytes(
        cv2.imencode(".png", np.full((256, 256), 200 * 257, np.uint16))[1].tobytes()),
     lambda r: data.load_image(first_image(r)), ("ok", lambda im: im.dtype == np.uint8 and (im == 200).all())),
    ("RGBA image", lambda r: first_image(r).image_path.write_bytes(
        cv2.imencode(".png", np.dstack([np.full((256, 256, 3), 90, np.uint8), np.zeros((256, 256), np.uint8)]))[1].tobytes()),
     lambda r: data.load_image(first_image(r)), ("ok", lambda im: im.shape == (256, 256) and (im == 90).all())),
    ("CSV without a column", lambda r: edit_csv(r["reflacx"] / "main_data" / "metadata_phase_3.csv",
                                                lambda f: f.drop(columns=["image_size_y"])),
     lambda r: data.read_reflacx(r["reflacx"], r["jpg"]), ("error", r"metadata_phase_3\.csv: missing column\(s\) \['image_size_y'\]")),
    ("fixation with NaN position", lambda r: edit_csv(reflacx_fixations(r), lambda f: f.__setitem__("x_position", f.x_position.where(f.index != 2))),
     lambda r: data.read_reflacx(r["reflacx"], r["jpg"]), ("stat", "fixations_outside_image", 1)),
    ("fixation with text", lambda r: edit_csv(reflacx_fixations(r), lambda f: set_cell(f, "timestamp_start_fixation", "early")),
     lambda r: data.read_reflacx(r["reflacx"], r["jpg"]), ("error", r"fixations\.csv: column 'timestamp_start_fixation' has non-numeric value 'early'")),
    ("fixation with negative duration", lambda r: edit_csv(reflacx_fixations(r), lambda f: f.__setitem__(
        "timestamp_end_fixation", f.timestamp_end_fixation.where(f.index != 2, f.timestamp_start_fixation - 0.5))),
     lambda r: data.read_reflacx(r["reflacx"], r["jpg"]), ("stat", "fixations_invalid_time", 1)),
    ("gaze outside the image", lambda r: edit_csv(reflacx_fixations(r), lambda f: f.__setitem__("y_position", f.y_position.where(f.index != 2, 10_000))),
     lambda r: data.read_reflacx(r["reflacx"], r["jpg"]), ("stat", "fixations_outside_image", 1)),
    ("reading with no fixations", lambda r: edit_csv(reflacx_fixations(r), lambda f: f.iloc[:0]),
     lambda r: data.read_reflacx(r["reflacx"], r["jpg"]), ("stat", "readings_without_fixations", 1)),
    ("invalid transcript.json", lambda r: sorted((r["egd"] / "audio_segmentation_transcripts").glob("*/transcript.json"))[0].write_text("{oops"),
     lambda r: data.read_egd_cxr(r["egd"], r["jpg"]), ("error", r"transcript\.json: not valid JSON")),
    ("report in Latin-1", lambda r: sorted((r["reports"] / "files").rglob("*.txt"))[0].write_bytes("FINDINGS: opacité.".encode("latin-1")),
     lambda r: data.read_mimic_cxr(r["jpg"], r["reports"]), ("warn", r"\.txt: report is not UTF-8 .* read as Latin-1")),
    ("study with no report", lambda r: sorted((r["reports"] / "files").rglob("*.txt"))[0].unlink(),
     lambda r: data.read_mimic_cxr(r["jpg"], r["reports"]), ("error", r"s\d+\.txt: missing report")),
    ("corrupt .csv.gz", lambda r: (r["jpg"] / "mimic-cxr-2.0.0-split.csv.gz").write_bytes(
        (r["jpg"] / "mimic-cxr-2.0.0-split.csv.gz").read_bytes()[:60]),
     lambda r: data.read_mimic_cxr(r["jpg"], r["reports"]), ("error", r"mimic-cxr-2\.0\.0-split\.csv\.gz: unreadable CSV")),
    ("empty data root", lambda r: [shutil.rmtree(p) or p.mkdir() for p in [r["lt"]]],
     lambda r: data.read_mimic_lt(r["lt"], r["jpg"]), ("error", r"mimic-cxr-lt_single-label_\w+\.csv: missing file")),
    ("unknown label value", lambda r: edit_csv(r["chexpert"] / "test_labels.csv", lambda f: f.__setitem__("Edema", f.Edema.where(f.index != 1, 2))),
     lambda r: data.read_chexpert(r["chexpert"]), ("error", r"test_labels\.csv: column 'Edema' has label value 2 \(data row 2\)")),
    ("unknown label column", lambda r: edit_csv(r["chexpert"] / "test_labels.csv", lambda f: f.rename(columns={"Edema": "Oedema"})),
     lambda r: data.read_chexpert(r["chexpert"]), ("error", r"test_labels\.csv: unknown label column\(s\) \['Oedema'\]")),
]


@pytest.mark.parametrize("case, damage, read, expected", CASES, ids=[c[0] for c in CASES])
def test_a_hostile_input_is_named_counted_or_read(cohort, tmp_path, case, damage, read, expected):
    root = Path(shutil.copytree(cohort, tmp_path / "data root with spaces ü"))  # and a non-ASCII path throughout
    r = roots(root)
    before = read(r) if expected[0] == "stat" else None
    damage(r)
    kind = expected[0]
    if kind == "error":
        with pytest.raises(data.DataError, match=expected[1]) as info:
            read(r)
        assert str(root) in str(info.value)  # the whole path of the file, as the user typed it
    elif kind == "stat":
        after = read(r)
        assert after.stats[expected[1]] == before.stats[expected[1]] + expected[2]
    elif kind == "warn":
        with pytest.warns(UserWarning, match=expected[1]):
            read(r)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert expected[1](read(r))
