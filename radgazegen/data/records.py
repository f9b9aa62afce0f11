"""The records every reader returns (``Record``, ``Records``, ``Box``), ``DataError``, and the
readers' shared helpers (checked CSV reads, image sizes, report text)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd
from PIL import Image, UnidentifiedImageError


FIXATION_COLUMNS = ("x", "y", "start", "end")
WORD_COLUMNS = ("word", "start", "end")
LT_FILES = {"train": "train", "balanced-val": "balanced-val", "test": "test", "balanced-test": "balanced-test"}


class DataError(ValueError):
    """Bad input data; the message names the file and the field (column) at fault."""


@dataclass
class Box:
    """A finding's box in original-image pixels."""

    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object if c == "word" else float) for c in columns})


@dataclass
class Record:
    """One radiograph (and, for gaze datasets, one reading of it).

    image_size: (width, height) in pixels. fixations: DataFrame x, y (pixels), start, end
    (s). words: DataFrame word, start, end (s). boxes: finding boxes (pixels).
    """

    source: str
    dicom_id: str
    image_path: Path
    image_size: tuple[int, int]
    report: str = ""
    labels: dict[str, float] = field(default_factory=dict)
    boxes: list[Box] = field(default_factory=list)
    fixations: pd.DataFrame = field(default_factory=lambda: _empty(FIXATION_COLUMNS))
    words: pd.DataFrame = field(default_factory=lambda: _empty(WORD_COLUMNS))
    split: str = ""
    subject_id: str = ""
    study_id: str = ""
    reading_id: str = ""
    extra: dict = field(default_factory=dict)


class Records(list):
    """A list of ``Record`` with ``stats``: counts of what the reader dropped."""

    def __init__(self, items: Iterable[Record] = (), stats: dict[str, int] | None = None):
        super().__init__(items)
        self.stats = dict(stats or {})


# ------------------------------------------------------------------------------ helpers
def _need(path: Path, what: str = "file") -> Path:
    if not path.exists():
        raise DataError(f"{path}: missing {what}")
    return path


def _csv(path: Path, columns: Iterable[str] = (), **kw) -> pd.DataFrame:
    _need(path)
    try:
        frame = pd.read_csv(path, **kw)
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}")
    return frame


def _numeric(frame: pd.DataFrame, columns: Iterable[str], path: Path) -> pd.DataFrame:
    for c in columns:
        values = pd.to_numeric(frame[c], errors="coerce")
        bad = values.isna() & frame[c].notna() & (frame[c].astype(str).str.strip() != "")
        if bad.any():
            raise DataError(f"{path}: column {c!r} has non-numeric value {frame[c][bad].iloc[0]!r}")
        frame[c] = values
    return frame


def _check_label_values(frame: pd.DataFrame, columns: Iterable[str], allowed: Iterable[float], path: Path) -> None:
    """A label column's values must be in ``allowed`` or empty (NaN); else a ``DataError`` naming
    the file, the column, the value and its row (a data row, counted from 1)."""
    ok = set(float(a) for a in allowed)
    for c in columns:
        bad = frame[c].notna() & ~frame[c].isin(ok)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            value = frame[c].iloc[row]
            raise DataError(f"{path}: column {c!r} has label value {getattr(value, 'item', lambda: value)()!r} (data row {row + 1}); "
                            f"expected one of {sorted(ok, reverse=True)} or empty")


def read_text(path: Path, what: str = "file") -> str:
    """A text file of a release as str: UTF-8, else Latin-1 with a warning naming the file (old
    exports); a missing file is a ``DataError``."""
    raw = _need(path, what).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        import warnings

        warnings.warn(f"{path}: {what} is not UTF-8 ({exc.reason} at byte {exc.start}); read as Latin-1", stacklevel=2)
        return raw.decode("latin-1")


def _valid_time(fix: pd.DataFrame) -> pd.Series:
    """Fixations with a start and an end, ending no earlier than they start."""
    return fix["start"].notna() & fix["end"].notna() & (fix["end"] >= fix["start"])


def _check_label_columns(columns: Iterable[str], vocabulary: Iterable[str], path: Path) -> None:
    vocab = set(vocabulary)
    unknown = [c for c in columns if c not in vocab]
    if unknown:
        raise DataError(f"{path}: unknown label column(s) {unknown}; expected labels from {sorted(vocab)}")


def _mimic_jpg(jpg_root: Path, subject: str, study: str, dicom_id: str) -> Path:
    return jpg_root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom_id}.jpg"


def _dcm_to_jpg(jpg_root: Path, dcm_path: str, where: str) -> Path:
    parts = str(dcm_path).replace("\\", "/").split("/")
    if "files" not in parts:
        raise DataError(f"{where}: image path {dcm_path!r} has no 'files/pXX/...' part")
    last = len(parts) - 1 - parts[::-1].index("files")  # "physionet.org/files/mimic-cxr/2.0.0/files/pXX/..."
    rel = "/".join(parts[last:])
    return jpg_root / Path(rel).with_suffix(".jpg")


def _header_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: corrupt or unreadable image ({exc})") from None


def _on_image(fix: pd.DataFrame, size: tuple[int, int]) -> pd.Series:
    w, h = size
    return (fix["x"] >= 0) & (fix["x"] < w) & (fix["y"] >= 0) & (fix["y"] < h) & fix[["x", "y"]].notna().all(axis=1)


def _mimic_sizes(jpg_root: Path) -> dict[str, tuple[int, int]]:
    path = jpg_root / "mimic-cxr-2.0.0-metadata.csv.gz"
    if not path.exists():
        return {}
    meta = _numeric(_csv(path, ("dicom_id", "Rows", "Columns")), ("Rows", "Columns"), path)
    return {d: (int(c), int(r)) for d, r, c in zip(meta.dicom_id, meta.Rows, meta.Columns)}


def _report_text(path: Path) -> str:
    """FINDINGS and IMPRESSION text of a MIMIC-CXR report (whole text if it has neither)."""
    text = read_text(path, "report")
    upper = text.upper()
    parts = []
    for head in ("FINDINGS:", "IMPRESSION:"):
        k = upper.find(head)
        if k >= 0:
            rest = text[k + len(head):]
            stop = min([j for j in (rest.upper().find(h) for h in ("IMPRESSION:", "FINDINGS:")) if j > 0] or [len(rest)])
            parts.append(" ".join(rest[:stop].split()))
    return " ".join(parts) if parts else " ".join(text.split())


def _check_images(records: list[Record], verify: bool) -> None:
    for r in records:
        _need(r.image_path, "image")
        if verify:
            _header_size(r.image_path)


