"""Every control of the split's images, computed once and cached (chapter 02's steps).

- ``control_caches`` / ``cached_controls``: the radiomics maps of §3.2.1 (Canny, Sobel, GL)
  and the lung mask of Rad-CN, one ``MapCache`` folder each; ``cache_summary`` says what was
  computed and what reused;
- ``reading_hva_maps``: the whole-reading HVA map and the per-finding maps V^m of §3.2.2,
  with the warnings of the maps that came out empty;
- ``lung_methods`` / ``lung_dice_rows`` / ``dice_table``: each available lung segmenter
  against the synthetic cohort's ground-truth masks (Dice).

All maps are on the ``(S, S)`` control grid (``control_size`` pixels a side).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import pandas as pd

from radgazegen import controls, data
from radgazegen.controls import gaze, segmentation
from radgazegen.controls.cache import FindingHVAMaps, MapCache
from radgazegen.core.progress import tqdm

#: The names of the lung segmenters ``lung_methods`` may list, in the Dice table's terms.
WEIGHT_FREE, LUNG_UNET, PSPNET = "weight-free (Otsu + morphology)", "lung U-Net [70]", "TorchXRayVision PSPNet"


def control_caches(run_dir: str | Path, control_size: int, canny_low: float, canny_high: float, gl_sigma: float,
                   lung_unet_weights: str = "", pspnet_cache_dir: str = "") -> tuple[dict, dict, str]:
    """The caches and functions of Rad-CN's four controls: (caches, fns, segmenter's name).

    caches: "canny", "sobel", "gl", "lung" -> ``MapCache`` keyed by the map's parameters (the
    lung cache by the segmenter: the weight-free stand-in's folder is ``lung-classical``);
    fns: the same keys -> function of the radiograph resized to ``(S, S)`` uint8, returning an
    ``(S, S)`` uint8 map (radiomics 0..255, lung mask 0 / 1 / 2). canny_low / canny_high:
    hysteresis thresholds (authors 40 / 50); gl_sigma: LoG sigma, pixels (authors 1).
    Used by chapter 02.
    """
    caches = {
        "canny": MapCache(run_dir, "canny", {"low": canny_low, "high": canny_high, "size": control_size}),
        "sobel": MapCache(run_dir, "sobel", {"size": control_size}),
        "gl": MapCache(run_dir, "gl", {"sigma": gl_sigma, "size": control_size}),
    }
    seg_name, seg_fn = segmentation.lung_segmenter(lung_unet_weights, pspnet_cache_dir)
    caches["lung"] = (MapCache(run_dir, "lung-classical", {"size": control_size, "method": "otsu + opencv morphology"})
                      if seg_fn is segmentation.classical_lung_mask else
                      MapCache(run_dir, "lung", {"size": control_size, "method": seg_name,
                                                 "weights": lung_unet_weights or pspnet_cache_dir}))
    fns = {  # each takes the radiograph resized to control_size x control_size
        "canny": lambda im: controls.canny(im, canny_low, canny_high, size=None),
        "sobel": lambda im: controls.sobel(im, size=None),
        "gl": lambda im: controls.gaussian_laplace(im, gl_sigma, size=None),
        "lung": seg_fn,
    }
    return caches, fns, seg_name


def cached_controls(records: Sequence, caches: dict, fns: dict, size: tuple[int, int],
                    load: Callable = data.load_image) -> dict:
    """Each control of each record: control name -> dicom id -> ``(S, S)`` uint8 map.

    A map found in its cache is read back; otherwise the record's radiograph is loaded (once,
    resized to ``size`` = (S, S) with area interpolation), the map computed and stored.
    load: record -> ``(H, W)`` uint8 radiograph. Used by chapter 02.
    """
    maps = {k: {} for k in caches}
    for rec in tqdm(records, desc="controls", disable=None):
        loaded = {}

        def radiograph() -> np.ndarray:
            if "image" not in loaded:
                loaded["image"] = cv2.resize(load(rec), size, interpolation=cv2.INTER_AREA)
            return loaded["image"]

        for kind, cache in caches.items():
            maps[kind][rec.dicom_id] = cache.get(rec.dicom_id, lambda kind=kind: fns[kind](radiograph()))
    return maps


def control_folders(caches: dict) -> dict:
    """The run's controls record: control name in the study's vocabulary ("lung" is
    "segmentation") -> its cache folder. Used by chapter 02 (``Run.write_controls``)."""
    return {("segmentation" if k == "lung" else k): c.dir for k, c in caches.items()}


def cache_summary(caches: dict) -> pd.DataFrame:
    """One row per control: maps computed in this run, maps reused from the cache, the folder.
    Used by chapter 02."""
    return pd.DataFrame({k: {"computed": c.misses, "reused from cache": c.hits, "folder": c.dir.name}
                         for k, c in caches.items()}).T


def reading_hva_maps(records: Sequence, findings_of: Callable, run_dir: str | Path, hva_sigma_px: float,
                     control_size: int) -> tuple[dict, dict, list]:
    """The HVA maps of §3.2.2 for every reading: (hva_whole, hva_finding, caught).

    hva_whole: dicom id -> the whole reading's map; hva_finding: (dicom id, finding) -> V^m
    (``FindingHVAMaps``, shared with chapter 03); both ``(S, S)`` float32 in [0, 1], cached.
    findings_of: record -> [(finding, keywords, box)] (``gaze.reading_findings``);
    hva_sigma_px: Gaussian sigma in pixels of a real radiograph (authors 64), rescaled with
    each image. caught: the ``gaze.EmptyHVAWarning`` s of the maps computed empty in this run
    (other warnings raised while computing are recorded and dropped, as the chapter always did).
    Used by chapter 02.
    """
    size = (control_size, control_size)
    whole = MapCache(run_dir, "hva-reading", {"sigma_px": hva_sigma_px, "size": control_size,
                                              "reference_width_px": gaze.REFERENCE_WIDTH_PX}, fmt="npz")
    per_finding = FindingHVAMaps(run_dir, hva_sigma_px, control_size)  # V^m, shared with the hypotheses chapter
    hva_whole, hva_finding = {}, {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", gaze.EmptyHVAWarning)
        for rec in tqdm(records, desc="HVA maps", disable=None):
            hva_whole[rec.dicom_id] = whole.get(rec.dicom_id, lambda: gaze.hva_map(
                rec.fixations, rec.image_size, sigma_px=gaze.at_image_scale(hva_sigma_px, rec.image_size[0]),
                out_size=size, where=f"reading {rec.reading_id}"))
            for name, keys, box in findings_of(rec):
                hva_finding[rec.dicom_id, name] = per_finding(rec, name, keys)
    return hva_whole, hva_finding, [w for w in caught if issubclass(w.category, gaze.EmptyHVAWarning)]


def lung_methods(lung_unet_weights: str = "", pspnet_cache_dir: str = "") -> dict:
    """The lung segmenters available in this run: name -> function of an ``(S, S)`` uint8
    radiograph returning an ``(S, S)`` uint8 mask (0 background, 1 / 2 the lungs). The
    weight-free one always; the U-Net of ref. [70] and TorchXRayVision's PSPNet when their
    weights are given. Used by chapter 02."""
    methods = {WEIGHT_FREE: lambda im: segmentation.classical_lung_mask(im)}
    if lung_unet_weights:
        unet = segmentation.load_lung_unet(lung_unet_weights)
        methods[LUNG_UNET] = lambda im: segmentation.unet_lung_mask(unet, im)
    if pspnet_cache_dir:
        methods[PSPNET] = lambda im: segmentation.pspnet_lung_mask(im, pspnet_cache_dir)
    return methods


def lung_dice_rows(records: Sequence, methods: dict, lung_maps: dict, ground_truth_root: str | Path,
                   size: tuple[int, int]) -> list[dict]:
    """Dice in [0, 1] of each method's lung mask against the cohort's ground truth, per record:
    [{"method", "dice"}]. The weight-free method's masks are the cached controls ``lung_maps``
    (dicom id -> ``(S, S)`` uint8); the others run on the radiograph resized to ``size``.
    Ground truth: ``synthetic.load_lung_mask``, nearest-neighbour resized. Used by chapter 02."""
    from radgazegen.synthetic import load_lung_mask

    rows = []
    for rec in records:
        gt = cv2.resize(load_lung_mask(ground_truth_root, rec.dicom_id), size, interpolation=cv2.INTER_NEAREST)
        image = cv2.resize(data.load_image(rec), size, interpolation=cv2.INTER_AREA)
        for name, fn in methods.items():
            mask = lung_maps[rec.dicom_id] if name.startswith("weight-free") else fn(image)
            rows.append({"method": name, "dice": segmentation.dice(mask, gt)})
    return rows


def dice_table(dice_rows: list[dict]) -> pd.DataFrame:
    """Per method: count, mean, std and min of the Dice of ``lung_dice_rows``. Used by chapter 02."""
    return pd.DataFrame(dice_rows).groupby("method")["dice"].describe()[["count", "mean", "std", "min"]]


def weight_free_dice(dice_rows: list[dict]) -> float:
    """Mean Dice of the weight-free lung mask over ``lung_dice_rows`` (NaN without rows). Used by chapter 02."""
    frame = pd.DataFrame(dice_rows, columns=["method", "dice"])
    return float(frame[frame["method"].str.startswith("weight-free")]["dice"].mean())
