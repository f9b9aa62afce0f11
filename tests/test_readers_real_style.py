"""The readers on hand-written samples in the real releases' formats, quirks included.

These files are written here by hand, row by row, as the real releases write them (not by
the cohort generator), so a convention the generator and the readers got wrong together
would still be caught: REFLACX punctuation tokens and fractional windows, a discarded
reading, EGD-CXR screen-pixel pads with the release's X_ORIGINAL, a calibration image in
the gaze table, ``dx*`` columns, blank and -1 labels, MIMIC-CXR-LT's column order.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radgazegen import data
from radgazegen.controls import gaze

W, H = 2544, 3056  # a real MIMIC-CXR-JPG size
SUB, STU, DID = "10000032", "50414267", "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"
DID2 = "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962"


def quote(field: str) -> str:
    """A CSV field as the release writes it: quoted when it holds a comma (REFLACX's "," token)."""
    return f'"{field}"' if "," in field else field


def write(path: Path, text: str, gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())


@pytest.fixture()
def root(tmp_path) -> Path:
    jpg = tmp_path / "mimic-cxr-jpg"
    for did in (DID, DID2):
        p = jpg / f"files/p10/p{SUB}/s{STU}/{did}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8)).save(p)  # pixels are not read here; sizes come from the metadata
    write(jpg / "mimic-cxr-2.0.0-metadata.csv.gz",
          "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,StudyDate,StudyTime,"
          "ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,PatientOrientationCodeSequence_CodeMeaning\n"
          f"{DID},{SUB},{STU},CHEST (PA AND LAT),PA,{H},{W},21800506,213014.531,CHEST (PA AND LAT),postero-anterior,Erect\n"
          f"{DID2},{SUB},{STU},CHEST (PA AND LAT),LATERAL,{H},{W},21800506,213014.531,CHEST (PA AND LAT),lateral,Erect\n",
          gz=True)
    write(jpg / "mimic-cxr-2.0.0-split.csv.gz", f"dicom_id,study_id,subject_id,split\n{DID},{STU},{SUB},train\n"
          f"{DID2},{STU},{SUB},train\n", gz=True)
    write(jpg / "mimic-cxr-2.0.0-chexpert.csv.gz",
          "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged Cardiomediastinum,Fracture,"
          "Lung Lesion,Lung Opacity,No Finding,Pleural Effusion,Pleural Other,Pneumonia,Pneumothorax,Support Devices\n"
          f"{SUB},{STU},,1.0,,-1.0,,,,,,1.0,,0.0,0.0,\n", gz=True)
    write(tmp_path / f"mimic-cxr/files/p10/p{SUB}/s{STU}.txt",
          "                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n FINDINGS: \n \n"
          " Moderate cardiomegaly. Small right pleural effusion, no pneumothorax.\n \n IMPRESSION: \n \n"
          " Cardiomegaly and right effusion.\n")
    # --- REFLACX: one phase-3 reading, one discarded phase-2 reading (labels and ellipses only)
    main = tmp_path / "reflacx" / "main_data"
    labels = ("Support devices,Abnormal mediastinal contour,Enlarged cardiac silhouette,Enlarged hilum,Hiatal hernia,"
              "Pneumothorax,Pleural abnormality,Consolidation,Groundglass opacity,Atelectasis,Lung nodule or mass,"
              "Pulmonary edema,High lung volume / emphysema,Interstitial lung disease,Acute fracture,Other,Quality issue")
    head = "id,split,eye_tracking_data_discarded,image,dicom_id,subject_id,image_size_x,image_size_y," + labels + "\n"
    img = f"physionet.org/files/mimic-cxr/2.0.0/files/p10/p{SUB}/s{STU}/{DID}.dcm"
    zeros = "False,0,0,0,0,0,0,0,0,0,0,0,0,0,0,,False"
    write(main / "metadata_phase_3.csv", head + f"P300R108387,train,False,{img},{DID},{SUB},{W},{H},"
          "False,0,4,0,0,0,5,0,0,0,0,0,0,0,0,,False\n")
    write(main / "metadata_phase_2.csv", head + f"P203R523124,test,True,{img},{DID},{SUB},{W},{H},{zeros}\n")
    write(main / "metadata_phase_1.csv", "id,split,eye_tracking_data_discarded,image,dicom_id,subject_id,"
          "image_size_x,image_size_y,Airway wall thickening,Atelectasis\n")
    ell_head = "xmin,ymin,xmax,ymax,certainty," + labels + "\n"
    for rid in ("P300R108387", "P203R523124"):
        write(main / rid / "chest_bounding_box.csv", "xmin,ymin,xmax,ymax\n180,290,2400,2950\n")
        write(main / rid / "anomaly_location_ellipses.csv", ell_head +
              "300,1700,1100,2700,4,False,False,False,False,False,False,True,False,False,False,False,False,False,False,False,,False\n")
    d = main / "P300R108387"
    display = "62.13,62.13,0.9,0.5,0,0,2544,3056,1021,0,2819,2160"
    write(d / "fixations.csv", "timestamp_start_fixation,timestamp_end_fixation,x_position,y_position,pupil_area_normalized,"
          "angular_resolution_x_pixels_per_degree,angular_resolution_y_pixels_per_degree,window_width,window_level,"
          "xmin_shown_from_image,ymin_shown_from_image,xmax_shown_from_image,ymax_shown_from_image,"
          "xmin_in_screen_coordinates,ymin_in_screen_coordinates,xmax_in_screen_coordinates,ymax_in_screen_coordinates\n"
          f"0.2,0.6,1300,1500,1.0,{display}\n"           # search
          f"4.9,5.5,1500,1300,1.1,{display}\n"           # cardiomegaly dictated
          f"6.3,6.9,700,2200,0.9,{display}\n"            # right effusion (image left)
          f"7.0,7.4,650,2300,0.9,{display}\n"
          f"7.5,7.8,-40,2300,0.9,{display}\n"            # off the image: dropped and counted
          f"9.0,9.3,1800,900,1.0,{display}\n")
    tokens = [("Moderate", 5.0, 5.4), ("cardiomegaly", 5.5, 6.2), (".", 6.2, 6.2), ("Small", 6.8, 7.0),
              ("right", 7.05, 7.3), ("pleural", 7.35, 7.7), ("effusion", 7.75, 8.3), (",", 8.3, 8.3),
              ("no", 8.4, 8.5), ("pneumothorax", 8.55, 9.2), (".", 9.2, 9.2)]
    write(d / "timestamps_transcription.csv", "word,timestamp_start_word,timestamp_end_word\n" +
          "".join(f"{quote(w)},{a},{b}\n" for w, a, b in tokens))
    write(d / "transcription.txt", "Moderate cardiomegaly. Small right pleural effusion, no pneumothorax.")
    # --- EGD-CXR: pads in screen pixels; a calibration image's rows in the gaze table
    egd = tmp_path / "egd-cxr"
    left, right, top, bottom = 510, 511, 0, 0   # 2544x3056 fitted in 1920x1080: 899x1080 shown
    chx = ("atelectasis__chx,cardiomegaly__chx,consolidation__chx,edema__chx,enlarged_cardiomediastinum__chx,"
           "fracture__chx,lung_lesion__chx,lung_opacity__chx,no_finding__chx,pleural_effusion__chx,"
           "pleural_other__chx,pneumonia__chx,pneumothorax__chx,support_devices__chx")
    write(egd / "master_sheet.csv",
          "dicom_id,path,study_id,patient_id,stay_id,gender,anchor_age,image_top_pad,image_bottom_pad,image_left_pad,"
          "image_right_pad,Normal,CHF,pneumonia,dx1,dx1_icd,dx2,dx2_icd,consolidation,enlarged_cardiac_silhouette,"
          f"normal_reports,{chx},cxr_exam_indication\n"
          f"{DID},files/p10/p{SUB}/s{STU}/{DID}.dcm,{STU},{SUB},30000000,F,60 - 70,{top},{bottom},{left},{right},"
          '0,1,0,"Congestive heart failure, unspecified",I50.9,,,0,1,0,,1.0,,-1.0,,,,,,1.0,,0.0,0.0,,'
          '"___F with dyspnea"\n')
    def fpog(x, y):
        return round((x * 899 / W + left) / 1920, 5), round((y * 1080 / H + top) / 1080, 5)
    rows = []
    for k, (x, y, t, dur) in enumerate([(1500, 1300, 1.0, 0.5), (700, 2200, 3.1, 0.4), (-100, 1500, 4.0, 0.3)]):
        fx, fy = fpog(x, y)
        xo = int(W / (1920 - left - right) * (fx * 1920 - left)) if x >= 0 else -1
        yo = int(H / (1080 - top - bottom) * (fy * 1080 - top)) if x >= 0 else -1
        rows.append(f"1,3,{DID},{k},{t},{int(t * 1e7)},{fx},{fy},{t + 100},{dur},{k},1,{fx},{fy},1,{xo},{yo}\n")
    gaze_head = ("SESSION_ID,MEDIA_ID,DICOM_ID,CNT,Time (in secs),TIMETICK(f=10000000),FPOGX,FPOGY,FPOGS,FPOGD,"
                 "FPOGID,FPOGV,BPOGX,BPOGY,BPOGV,X_ORIGINAL,Y_ORIGINAL\n")
    calibration = "1,0,calibration_image,0,0.1,1000000,0.5,0.5,99.0,0.2,0,1,0.5,0.5,1,-1,-1\n"
    write(egd / "fixations.csv", gaze_head + calibration + "".join(rows))
    write(egd / "eye_gaze.csv", gaze_head + calibration + "".join(rows))
    phrases = [("Moderate", 0.8, 1.2), ("cardiomegaly.", 1.3, 2.0), ("Small", 2.6, 2.8), ("right", 2.85, 3.1),
               ("pleural effusion,", 3.15, 4.0), ("no", 4.1, 4.2), ("pneumothorax.", 4.25, 4.9)]
    tdir = egd / "audio_segmentation_transcripts" / DID
    tdir.mkdir(parents=True)
    (tdir / "transcript.json").write_text(json.dumps({
        "full_text": " ".join(p for p, _, _ in phrases),
        "time_stamped_text": [{"phrase": p, "begin_time": a, "end_time": b} for p, a, b in phrases]}))
    return tmp_path


def test_mimic_reader_on_real_style_files(root):
    recs = data.read_mimic_cxr(root / "mimic-cxr-jpg", root / "mimic-cxr")
    rec = next(r for r in recs if r.dicom_id == DID)
    assert rec.image_size == (W, H)
    assert rec.labels["Cardiomegaly"] == 1.0 and rec.labels["Edema"] == -1.0 and rec.labels["Pneumonia"] == 0.0
    assert np.isnan(rec.labels["Atelectasis"])  # blank: not mentioned
    assert rec.report.startswith("Moderate cardiomegaly.") and "Cardiomegaly and right effusion." in rec.report


def test_reflacx_reader_on_real_style_files(root):
    recs = data.read_reflacx(root / "reflacx", root / "mimic-cxr-jpg")
    assert [r.reading_id for r in recs] == ["P300R108387"]
    assert recs.stats == {"readings_eye_tracking_discarded": 1, "fixations_outside_image": 1, "fixations_invalid_time": 0,
                          "readings_without_fixations": 0}
    rec = recs[0]
    assert rec.image_size == (W, H) and len(rec.fixations) == 5 and rec.labels["Pleural abnormality"] == 5.0
    assert [b.label for b in rec.boxes] == ["Pleural abnormality"]
    # sentences from the "." tokens; the comma does not end one
    assert [rec.words.word[i] for i in gaze.sentence_starts(rec.words)] == ["Moderate", "Small"]
    win = gaze.finding_window(rec.words, ["effusion"])
    assert win == pytest.approx((6.8 - 1.5, 8.3))
    assert gaze.finding_fixations(rec.fixations, win).x.tolist() == [700, 650]


def test_egd_reader_on_real_style_files(root):
    recs = data.read_egd_cxr(root / "egd-cxr", root / "mimic-cxr-jpg")
    assert [r.dicom_id for r in recs] == [DID]  # the calibration image is not in master_sheet
    rec = recs[0]
    assert rec.image_size == (W, H)
    assert recs.stats["fixations_outside_image"] == 1
    assert rec.fixations.x.tolist() == pytest.approx([1500, 700], abs=2)  # the release's mapping, truncated
    assert rec.labels["CHF"] == 1.0 and rec.labels["cardiomegaly__chx"] == 1.0 and rec.labels["edema__chx"] == -1.0
    assert np.isnan(rec.labels["atelectasis__chx"])
    assert rec.words.word.tolist()[:4] == ["Moderate", "cardiomegaly", ".", "Small"]
    assert [rec.words.word[i] for i in gaze.sentence_starts(rec.words)] == ["Moderate", "Small"]
    win = gaze.finding_window(rec.words, ["effusion"])
    assert win[0] == pytest.approx(2.6 - 1.5) and 3.5 < win[1] <= 4.0
    assert gaze.finding_fixations(rec.fixations, win).x.tolist() == pytest.approx([700], abs=2)


def test_egd_findings_and_their_maps_come_from_labels_and_transcript(root):
    """Real EGD-CXR has no finding boxes: its findings are the positive __chx labels, and V^m
    comes from the word-level transcript (§3.2.2), as for REFLACX."""
    rec = data.read_egd_cxr(root / "egd-cxr", root / "mimic-cxr-jpg")[0]
    found = gaze.reading_findings(rec)
    assert [(f, box) for f, _, box in found] == [("Cardiomegaly", None), ("Pleural Effusion", None)]
    keys = dict((f, k) for f, k, _ in found)
    v = gaze.finding_hva(rec, keys["Pleural Effusion"], sigma_px=64.0, out_size=(256, 256))
    y, x = np.unravel_index(np.argmax(v), v.shape)
    assert abs(x - 700 * 256 / W) < 3 and abs(y - 2200 * 256 / H) < 3  # the fixation made while it was said


def test_dicom_is_read_with_its_display_window(tmp_path):
    """RG1_UNCR.dcm (MONOCHROME1, window 15000 / 30000): VOI LUT applied, then inverted."""
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file("RG1_UNCR.dcm")
    img = data.load_dicom(path)
    ds = pydicom.dcmread(path)
    assert img.shape == ds.pixel_array.shape and img.dtype == np.uint8
    raw = ds.pixel_array.astype(float)
    # the window maps stored values linearly onto 0..2^15-1; MONOCHROME1: high stored = dark
    i, j = np.unravel_index(np.argmax(raw), raw.shape)
    expected = 255 * (1 - np.clip(((raw[i, j] - 15000 + 0.5) / 29999 + 0.5), 0, 1))
    assert abs(int(img[i, j]) - expected) <= 2
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not a dicom")
    with pytest.raises(data.DataError, match="bad.dcm: not a readable DICOM"):
        data.load_dicom(bad)
