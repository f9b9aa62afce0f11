"""Training items for SD-CXR, Rad-CN and HVA-CN: radiograph, report prompt, cached controls.

An item is one training radiograph with its prompt (the MIMIC-CXR report's FINDINGS and
IMPRESSION) and the paths of its cached controls (``cache.MapCache`` folders written by the
control-map and hypothesis chapters). ``ControlDataset(items, resolution)(indices)`` returns
a ``training.Batch``:

- pixel_values ``(B, 3, R, R)`` float32 in [-1, 1] (grayscale replicated to RGB, as SD expects);
- conditioning: control name -> ``(B, 3, R, R)`` float32 in [0, 1] (the map replicated to RGB,
  as the stock ControlNet pipelines feed a control image), plus ``"unified"``: the radiomics
  maps and the lung mask stacked as channels ``(B, 4, R, R)`` (the paper's unified control).

``conditioning(maps, resolution)`` builds that dict from control maps in memory (``(H, W)``
uint8 each); ``ControlDataset`` builds it from the cached control files, and any chapter that
makes its own maps (Table 3's CheXpert images) calls it. Control names are
``radgazegen.core.vocabulary``'s. The lung mask {0, 1, 2} (background, right, left lung) is shown
as {0, 127, 254} / 255.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import torch

from radgazegen.data import DataError
from radgazegen.models.training import Batch
from radgazegen.core.vocabulary import GAZE_CONTROL, RADIOMICS_CONTROLS, SEGMENTATION, UNIFIED


@dataclass
class Item:
    """One training example: dicom_id, image path, prompt, control name -> PNG path, and the
    finding whose gaze control it carries (gaze items; "" otherwise)."""
    dicom_id: str
    image_path: Path
    prompt: str
    controls: dict[str, Path] = field(default_factory=dict)
    finding: str = ""


def read_gray(path: Path, resolution: int, where: str) -> np.ndarray:
    """A grayscale image resized to ``resolution`` x ``resolution``: ``(R, R)`` uint8; clear error if unreadable."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: {where} not found")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DataError(f"{path}: {where} is corrupt or unreadable")
    return cv2.resize(image, (resolution, resolution), interpolation=cv2.INTER_AREA)


def control_array(name: str, control: np.ndarray, resolution: int) -> np.ndarray:
    """A control map ``(H, W)`` uint8 as the ControlNets read it: ``(R, R)`` float32 in [0, 1].
    Maps are area-resized and scaled by 1/255; the lung mask's labels {0, 1, 2} are resized
    nearest and become {0, 127, 254} / 255."""
    if name == SEGMENTATION:
        m = cv2.resize(control, (resolution, resolution), interpolation=cv2.INTER_NEAREST)
        return (m.astype(np.float32) * 127.0) / 255.0
    return cv2.resize(control, (resolution, resolution), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def read_control(name: str, path: Path) -> np.ndarray:
    """A control file (notebook 02/03's cache) as stored: ``(H, W)`` uint8 (the lung mask's labels
    unchanged); clear error if missing or unreadable."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: control {name!r} not found")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED if name == SEGMENTATION else cv2.IMREAD_GRAYSCALE)
    if raw is None:
        raise DataError(f"{path}: control {name!r} is corrupt or unreadable")
    return raw


def control_image(name: str, path: Path, resolution: int) -> np.ndarray:
    """A control file (notebook 02/03's cache) as ``control_array`` gives it: ``(R, R)`` float32 in [0, 1]."""
    return control_array(name, read_control(name, path), resolution)


def conditioning(maps: Mapping[str, np.ndarray | Sequence[np.ndarray]], resolution: int) -> dict[str, torch.Tensor]:
    """The conditioning of a batch from its control maps, as the ControlNets read it.

    maps: control name -> the batch's maps, ``(N, H, W)`` uint8 or a sequence of ``(H, W)``
    uint8 (sizes may differ; the lung mask as labels {0, 1, 2}). Returns control name ->
    ``(N, 3, R, R)`` float32 in [0, 1] (``control_array``, replicated to RGB), plus ``"unified"``
    ``(N, 4, R, R)`` (the radiomics controls as channels) when all of them are given.
    """
    cond = {}
    for name, batch in maps.items():
        arrays = np.stack([control_array(name, m, resolution) for m in batch])
        cond[name] = torch.from_numpy(arrays)[:, None].repeat(1, 3, 1, 1)
    if all(c in cond for c in RADIOMICS_CONTROLS):
        cond[UNIFIED] = torch.cat([cond[c][:, :1] for c in RADIOMICS_CONTROLS], dim=1)
    return cond


class ControlDataset:
    """``dataset(indices) -> Batch`` over ``items`` at ``resolution`` pixels.

    controls: which control names to load (each item must have them all); the unified
    control is added when all of ``RADIOMICS_CONTROLS`` are loaded.
    """

    def __init__(self, items: Sequence[Item], resolution: int, controls: Sequence[str] = (), in_memory: bool = False):
        self.items, self.resolution, self.controls = list(items), int(resolution), tuple(controls)
        for it in self.items:
            missing = [c for c in self.controls if c not in it.controls]
            if missing:
                raise KeyError(f"item {it.dicom_id}: no control(s) {missing}")
        self._memo: dict[int, tuple] | None = {} if in_memory else None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def in_memory(self) -> bool:
        """Whether each item is kept in memory after its first read (the ``in_memory`` argument)."""
        return self._memo is not None

    def _item(self, i: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Item i's radiograph ``(R, R)`` uint8 and its controls at ``resolution`` (``control_array``)."""
        if self._memo is not None and i in self._memo:
            return self._memo[i]
        it, r = self.items[i], self.resolution
        value = (read_gray(it.image_path, r, "radiograph"),
                 {name: control_array(name, read_control(name, it.controls[name]), r) for name in self.controls})
        if self._memo is not None:
            self._memo[i] = value
        return value

    def __call__(self, indices) -> Batch:
        """The items' ``Batch``; keys: their image paths and resolution. ``in_memory``: each item
        is read from disk once, then kept (a few MB at 64 px)."""
        loaded = [self._item(int(i)) for i in indices]
        px = np.stack([g for g, _ in loaded]).astype(np.float32) / 127.5 - 1.0
        cond = {name: torch.from_numpy(np.stack([c[name] for _, c in loaded]))[:, None].repeat(1, 3, 1, 1)
                for name in self.controls}
        if all(c in cond for c in RADIOMICS_CONTROLS):
            cond[UNIFIED] = torch.cat([cond[c][:, :1] for c in RADIOMICS_CONTROLS], dim=1)
        items = [self.items[int(i)] for i in indices]
        return Batch(torch.from_numpy(px)[:, None].repeat(1, 3, 1, 1), [it.prompt for it in items], cond,
                     keys=[f"{it.image_path}@{self.resolution}" for it in items])


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Images in [-1, 1] ``(N, C, H, W)`` -> grayscale ``(N, H, W)`` uint8 (mean over channels)."""
    x = images.detach().float().cpu().numpy() if torch.is_tensor(images) else np.asarray(images, np.float32)
    return np.clip((x.mean(axis=1) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)


#: What a gaze item's control ``GAZE_CONTROL`` is (``run_items``' ``gaze_control``): the selected
#: hypothesis beta^k (the paper, §3.2.2) or the dilated gaze mask (the authors' released script; the
#: HVA-CN of Eq. 5 in chapter 06).
GAZE_CONTROL_SOURCES = {"hypothesis": "control_path", "mask": "mask_path"}
#: What a gaze item's prompt is (``run_items``' ``prompt``): its image's report, or the report's
#: sentences naming the item's finding with every place word removed (``labels.location_free_prompt``).
PROMPT_SOURCES = ("report", "finding")


def run_items(run, mimic_cxr_jpg_root: str | Path, mimic_cxr_reports_root: str | Path,
              which: str = "train", gaze: bool = False, gaze_control: str = "hypothesis",
              prompt: str = "report") -> list[Item]:
    """The training (or test) items of a run, with the controls its earlier chapters cached.

    run: the run (``artifacts.Run``) or its directory. Reads the split (images), the
    MIMIC-CXR reports (prompts), the control-map folders and, with ``gaze=True``, the
    hypotheses: then one item per (image, finding) whose gaze control is the selected
    hypothesis (``gaze_control="hypothesis"``) or the dilated gaze mask (``"mask"``), and whose
    prompt is the report (``prompt="report"``) or the finding's sentences without place words
    (``"finding"``: the gaze is then the only cue to where the finding is). A report without
    text gets the prompt "chest radiograph".
    """
    if gaze_control not in GAZE_CONTROL_SOURCES:
        raise ValueError(f"gaze_control: expected one of {list(GAZE_CONTROL_SOURCES)}, got {gaze_control!r}")
    if prompt not in PROMPT_SOURCES:
        raise ValueError(f"prompt: expected one of {list(PROMPT_SOURCES)}, got {prompt!r}")
    from radgazegen.core.artifacts import as_run
    from radgazegen.data import read_mimic_cxr

    run = as_run(run)
    split = run.read_split()
    ids = list(split.dicom_id[split.split == which])
    records = {r.dicom_id: r for r in read_mimic_cxr(mimic_cxr_jpg_root, mimic_cxr_reports_root) if r.dicom_id in set(ids)}
    missing = [d for d in ids if d not in records]
    if missing:
        raise DataError(f"{mimic_cxr_jpg_root}: {len(missing)} image(s) of split.csv not in MIMIC-CXR, e.g. {missing[:3]}")
    folders = run.read_controls()
    items = [Item(d, records[d].image_path, records[d].report or "chest radiograph",
                  {name: Path(folder) / f"{d}.png" for name, folder in folders.items()}) for d in ids]
    if not gaze:
        return items
    from radgazegen.core.labels import FINDING_KEYWORDS, location_free_prompt

    by_id = {it.dicom_id: it for it in items}
    table = run.read_hypotheses()
    column = GAZE_CONTROL_SOURCES[gaze_control]
    if column not in table.columns:
        raise DataError(f"{run.path('hypotheses')}: no column {column!r} (gaze_control={gaze_control!r}); "
                        "rerun the hypotheses chapter (03) with this version of the study")
    out = []
    for row in table.itertuples():
        base = by_id.get(row.dicom_id)
        if base is not None:
            text = (base.prompt if prompt == "report" else
                    location_free_prompt(base.prompt, FINDING_KEYWORDS.get(row.finding, ()), f"{row.finding}."))
            out.append(Item(base.dicom_id, base.image_path, text,
                            {**base.controls, GAZE_CONTROL: Path(getattr(row, column))}, finding=row.finding))
    return out


def oracle_items(run, ground_truth_root: str | Path, items: Sequence[Item], size: int = 128) -> list[Item]:
    """The oracle's items (chapter 06, synthetic cohort only): ``items`` (gaze items, each with its
    ``finding``) with the gaze control replaced by the finding's ground-truth box, drawn as a
    filled ``(size, size)`` 0 / 255 PNG in the run's map cache (``maps/oracle-box-<hash>/``);
    items whose finding has no box are dropped. Its control comes from the image's label: the
    oracle is a ceiling of the control pathway, never a method."""
    from radgazegen.controls.cache import MapCache
    from radgazegen.controls.gaze import finding_boxes
    from radgazegen.core.artifacts import as_run
    from radgazegen.synthetic import read_ground_truth

    truth = read_ground_truth(ground_truth_root)
    cache = MapCache(as_run(run).dir, "oracle-box", {"size": size})
    out = []
    for it in items:
        boxes = finding_boxes(truth, it.dicom_id, it.finding)  # the study's one lookup, in image pixels
        if not boxes:
            continue
        h, w = cv2.imread(str(it.image_path), cv2.IMREAD_GRAYSCALE).shape

        def draw(box=boxes[0], w=w, h=h) -> np.ndarray:
            m = np.zeros((size, size), np.uint8)
            x0, y0, x1, y1 = box
            m[int(y0 * size / h):max(int(y0 * size / h) + 1, int(np.ceil(y1 * size / h))),
              int(x0 * size / w):max(int(x0 * size / w) + 1, int(np.ceil(x1 * size / w)))] = 255
            return m

        cache.get(f"{it.dicom_id}-{it.finding}", draw)
        out.append(Item(it.dicom_id, it.image_path, it.prompt,
                        {**it.controls, GAZE_CONTROL: cache.path(f"{it.dicom_id}-{it.finding}")}, finding=it.finding))
    return out
