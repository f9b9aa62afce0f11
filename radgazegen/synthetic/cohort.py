"""``generate_cohort``: draw every MIMIC image once, then let each dataset's writer write its files.

Order of work (each image has its own child generator, so files are byte-identical per
seed): labels for all MIMIC images (a long tail, every class guaranteed); ids and the
official split; which images each gaze dataset reads (REFLACX multi-reader and
single-reader images, EGD-CXR among its Normal / CHF / pneumonia cases, the overlap);
then per image the phantom, the report, and the writers (MIMIC-CXR, REFLACX, EGD-CXR),
then MIMIC-CXR-LT, the CheXpert test set and the ground truth.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
from radgazegen.core.progress import tqdm

from radgazegen.core import io as rio
from radgazegen.core.artifacts import record_path
from radgazegen.core.labels import FOCAL_FINDINGS, LT_CLASS_WEIGHTS, MIMIC_LT_CLASSES
from radgazegen.synthetic.chexpert import write_chexpert
from radgazegen.synthetic.config import REAL_HEIGHT_RANGE, REAL_WIDTH_RANGE, Case, CohortConfig, CohortSummary
from radgazegen.synthetic.egd import EgdWriter, condition
from radgazegen.synthetic.files import encode, write_csv
from radgazegen.synthetic.mimic import MimicWriter
from radgazegen.synthetic.mimic_lt import write_mimic_lt
from radgazegen.synthetic.phantom import render_phantom
from radgazegen.synthetic.reflacx import ReflacxWriter
from radgazegen.synthetic.reports import chexpert_labels, draw_dictation

log = logging.getLogger(__name__)
TRUTH_COLUMNS = ["dicom_id", "label", "side", "zone", "xmin", "ymin", "xmax", "ymax"]
IMAGE_COLUMNS = ["dicom_id", "image_path", "source", "labels", "width", "height"]


def _dicom_id(rng: np.random.Generator) -> str:
    return "-".join(f"{int(v):08x}" for v in rng.integers(0, 2**32, 5))


def _sample_labels(cfg: CohortConfig, rng: np.random.Generator) -> list[list[str]]:
    """Labels per MIMIC image: long-tailed primary class, every class guaranteed."""
    per_class = cfg.lt_balanced_val_per_class + cfg.lt_balanced_test_per_class + 1
    primary = [c for c in MIMIC_LT_CLASSES for _ in range(per_class)]
    weights = np.array([LT_CLASS_WEIGHTS[c] * (cfg.focal_boost if c in FOCAL_FINDINGS else 1.0) for c in MIMIC_LT_CLASSES])
    rest = rng.choice(len(MIMIC_LT_CLASSES), size=cfg.n_mimic - len(primary), p=weights / weights.sum())
    primary += [MIMIC_LT_CLASSES[i] for i in rest]
    primary = [primary[i] for i in rng.permutation(len(primary))]
    out = []
    abnormal = [c for c in MIMIC_LT_CLASSES if c != "No Finding"]
    w2 = np.array([LT_CLASS_WEIGHTS[c] for c in abnormal])
    for p in primary:
        labels = [p]
        if p != "No Finding" and rng.random() < cfg.second_finding_probability:
            second = abnormal[int(rng.choice(len(abnormal), p=w2 / w2.sum()))]
            if second != p:
                labels.append(second)
        out.append(labels)
    return out


def _image_size(cfg: CohortConfig, stream: int):
    """j -> (width, height) of the j-th image of ``stream`` (1 MIMIC, 3 CheXpert)."""
    if not cfg.real_sizes:
        return lambda j: cfg.image_size

    def size(j: int) -> tuple[int, int]:
        rng = np.random.default_rng([cfg.seed, 4, stream, j])
        return int(rng.integers(*REAL_WIDTH_RANGE)), int(rng.integers(*REAL_HEIGHT_RANGE))
    return size


def _gaze_images(cfg: CohortConfig, labels: list[list[str]], rng: np.random.Generator):
    """Which MIMIC images REFLACX (multi / single reader) and EGD-CXR read, and the
    multi-reader images with one discarded reading."""
    n = cfg.n_mimic
    perm = [int(i) for i in rng.permutation(n)]
    n_ref, n_egd, k = round(cfg.reflacx_fraction * n), round(cfg.egd_fraction * n), cfg.reflacx_multi_reader_images
    multi = perm[:k]
    egd = [i for i in perm[k:] if condition(labels[i]) is not None][:n_egd]
    if len(egd) < n_egd:
        raise ValueError(f"CohortConfig.egd_fraction: {n_egd} EGD-CXR images asked, but only {len(egd)} of the "
                         f"images are Normal / CHF / pneumonia cases; lower egd_fraction or raise n_mimic")
    overlap = egd[: cfg.egd_reflacx_overlap]
    single = overlap + [i for i in perm[k:] if i not in set(egd)][: n_ref - k - len(overlap)]
    discarded = {int(i) for i in rng.permutation(multi)[: cfg.reflacx_discarded_readings]}
    return multi, set(single), set(egd), discarded


#: Cohorts of at least this many MIMIC images draw their radiographs on all CPU cores.
PARALLEL_FROM_IMAGES = 256


def _draw_radiograph(job: tuple[int, int, list[str], tuple[int, int], float]):
    """Image ``i``'s phantom and dictation from its own child generator ``[seed, 1, i]``;
    returns them with the generator, whose state the writers go on drawing from."""
    seed, i, labels, size, lesion_scale = job
    rng = np.random.default_rng([seed, 1, i])
    ph = render_phantom(labels, rng, size, lesion_scale=lesion_scale)
    return ph, draw_dictation(ph.findings, rng), rng


def _drawn(jobs: Iterable, workers: int) -> Iterator:
    """``_draw_radiograph`` of each job, in order: in this process, or in ``workers`` spawned
    processes (the same bytes either way: each image's generator is its own)."""
    if workers <= 1:
        yield from map(_draw_radiograph, jobs)
        return
    jobs, window = iter(jobs), 8 * workers  # a window of images in flight, not the whole cohort in memory
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        while batch := list(islice(jobs, window)):
            yield from pool.map(_draw_radiograph, batch, chunksize=2)


def generate_cohort(root: str | Path, config: CohortConfig | None = None, progress: bool = True,
                    overwrite: bool = False, workers: int | None = None) -> CohortSummary:
    """Write the synthetic cohort under ``root`` (layouts: ``radgazegen.synthetic`` and datasets.md).

    A folder already holding a cohort of the same config, made by the same generator code,
    is left as it is; one holding another raises unless ``overwrite``. Every file is
    written atomically. Returns the counts per dataset and split.

    workers: processes drawing the radiographs (default: every CPU core from
    ``PARALLEL_FROM_IMAGES`` images on, else this process); the files do not depend on it.
    """
    cfg = config or CohortConfig()
    root = Path(root)
    stamp = root / "ground_truth" / "cohort.json"
    if stamp.exists():
        old = json.loads(stamp.read_text())
        if old.get("config") == cfg.to_json() and old.get("generator") == generator_digest():
            log.info("cohort at %s already generated with this config", root)
            return CohortSummary(root, old.get("counts", {}))
        if not overwrite:
            raise ValueError(f"{stamp}: a cohort with another config or generator is there; pass overwrite=True "
                             "or choose another folder")
    master = np.random.default_rng(cfg.seed)
    labels = _sample_labels(cfg, master)
    n = cfg.n_mimic
    subject_ids = master.choice(np.arange(10_000_000, 20_000_000), size=n, replace=False)
    study_ids = master.choice(np.arange(50_000_000, 60_000_000), size=n, replace=False)
    dicom_ids = [_dicom_id(master) for _ in range(n)]
    mimic_split = master.choice(["train", "validate", "test"], size=n, p=[0.9, 0.05, 0.05])
    multi, single, egd, discarded = _gaze_images(cfg, labels, master)
    mimic = MimicWriter(root, cfg.jpeg_quality)
    reflacx = ReflacxWriter(root, cfg.off_image_gaze_fraction)
    egd_writer = EgdWriter(root, cfg.off_image_gaze_fraction)
    size = _image_size(cfg, 1)
    gt = root / "ground_truth"
    truth_rows, image_rows, cases = [], [], []
    if workers is None:
        workers = (os.cpu_count() or 1) if n >= PARALLEL_FROM_IMAGES else 1
    drawn = _drawn(((cfg.seed, i, labels[i], size(i), cfg.lesion_scale) for i in range(n)), workers)
    for i, (ph, dictation, rng) in zip(tqdm(range(n), desc="MIMIC-CXR radiographs", disable=not progress), drawn):
        case = Case(i, rng, labels[i], str(subject_ids[i]), str(study_ids[i]), dicom_ids[i], str(mimic_split[i]),
                    ph, dictation, chexpert_labels(ph.findings, dictation))
        mimic.add(case)
        rio.write_bytes(gt / "lung_masks" / f"{case.dicom_id}.png", encode(ph.lung_mask, ".png"))
        if i in multi:
            phase = 1 if multi.index(i) < len(multi) / 2 else 2
            reflacx.add(case, phase, cfg.readers_per_multi_image,
                        discarded_reader=cfg.readers_per_multi_image - 1 if i in discarded else -1)
        elif i in single:
            reflacx.add(case, 3, 1)
        if i in egd:
            egd_writer.add(case)
        truth_rows += [{"dicom_id": case.dicom_id, "label": f.label, "side": f.side, "zone": f.zone,
                        "xmin": f.box[0], "ymin": f.box[1], "xmax": f.box[2], "ymax": f.box[3]} for f in ph.findings]
        w, h = case.size
        image_rows.append({"dicom_id": case.dicom_id, "image_path": f"mimic-cxr-jpg/{case.jpg_path}", "source": "mimic",
                           "labels": "|".join(labels[i]), "width": w, "height": h})
        case.phantom = None  # keep only what the LT writer needs (the images can be large)
        cases.append(case)
    mimic.finish()
    reflacx.finish()
    egd_writer.finish()
    write_mimic_lt(root, cfg, cases, master)
    write_chexpert(root, cfg, _image_size(cfg, 3), progress, truth_rows, image_rows)
    write_csv(gt / "findings.csv", pd.DataFrame(truth_rows, columns=TRUTH_COLUMNS))
    write_csv(gt / "images.csv", pd.DataFrame(image_rows, columns=IMAGE_COLUMNS))
    counts = {
        "mimic_cxr_images": n, "chexpert_test_images": cfg.n_chexpert,
        "reflacx_readings": reflacx.n_readings,
        "reflacx_multi_reader_images": len(multi), "reflacx_single_reader_images": len(single),
        "reflacx_discarded_readings": len(discarded), "egd_cxr_images": len(egd),
        "egd_reflacx_overlap": len(egd & single), "findings": len(truth_rows),
    }
    rio.write_json(stamp, {"config": cfg.to_json(), "counts": counts, "generator": generator_digest()})
    return CohortSummary(root, counts)


def generator_digest() -> str:
    """Hash of the code that draws the cohort (this sub-package and the label vocabularies)."""
    from radgazegen.core import labels

    h = hashlib.sha256(Path(labels.__file__).read_bytes())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def read_ground_truth(root: str | Path) -> pd.DataFrame:
    """The drawn findings: dicom_id, label, side, zone, xmin, ymin, xmax, ymax (pixels, max exclusive)."""
    record_path(root)
    path = Path(root) / "ground_truth" / "findings.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ground truth (is {root} a synthetic cohort?)")
    return pd.read_csv(path)


def truth_boxes(truth: pd.DataFrame, dicom_id: str, finding: str | None = None) -> list[tuple[int, int, int, int]]:
    """The ground-truth boxes ``(xmin, ymin, xmax, ymax)`` (pixels of the image, max exclusive) of
    one image in ``read_ground_truth``'s table, of one ``finding`` only when given; [] when none."""
    rows = truth[(truth.dicom_id == dicom_id) & ((truth.label == finding) if finding else True)]
    return [(int(r.xmin), int(r.ymin), int(r.xmax), int(r.ymax)) for r in rows.itertuples()]


def load_lung_mask(root: str | Path, dicom_id: str) -> np.ndarray:
    """(H, W) uint8 lung mask of a MIMIC image: 0 background, 1 patient-right, 2 patient-left lung."""
    import cv2

    record_path(root)
    path = Path(root) / "ground_truth" / "lung_masks" / f"{dicom_id}.png"
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise FileNotFoundError(f"{path}: missing or unreadable lung mask")
    return mask
