"""Preflight: every external resource a profile needs, found or missing, in seconds.

``python -m radgazegen check --profile full`` (and the first step of ``run --profile full``)
reads the profile's parameters (as the runner resolves them) and checks each resource named
in ``RESOURCES``: a data root and its key files, the Stable Diffusion weights (a local
directory or a hub id already in the local Hugging Face cache: no download), TorchXRayVision's
DenseNet weights, the Inception weights of FID, a CLIP model for the CLIP score, the lung
segmenter's weights, CheXpert-test's reports file, RoentGen. Each is reported as

- ``found``;
- ``missing``: a data root, file or model the profile cannot run without;
- ``stand-in``: a paper component left empty (``""``) or not found, for which the study has a
  stand-in (named in the report) that makes the run's numbers *not* the paper's quantity.

In ``full``, a missing resource, or a stand-in the user has not opted into (``run
--allow-stand-ins``), stops the run before any chapter starts, with the report. Resources of
other profiles that their own run makes (the synthetic cohort under ``{run_dir}``) are not
checked. The report is written to ``<run_dir>/preflight.txt``; the book's run-record page shows
it, so every stand-in a run used is labelled there.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Resource:
    """param: the notebooks' parameter; what: the resource; key: paths that must exist under it
    (globs; "" = the value itself is the file); stand_in: what the study uses instead ("" =
    nothing: required); how: how to provide it."""
    param: str
    what: str
    key: tuple[str, ...] = ("",)
    stand_in: str = ""
    how: str = ""
    hub: bool = False  # the value may be a Hugging Face hub id (looked up in the local cache only)


PHYSIONET = "credentialed access on PhysioNet; download it and give the folder"
RESOURCES: tuple[Resource, ...] = (
    Resource("mimic_cxr_jpg_root", "MIMIC-CXR-JPG 2.0.0 (images, metadata, split, CheXpert labels)",
             ("mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-chexpert.csv.gz", "files"),
             how=f"{PHYSIONET} (physionet.org/content/mimic-cxr-jpg/2.0.0)"),
    Resource("mimic_cxr_reports_root", "MIMIC-CXR 2.0.0 free-text reports (the prompts)", ("files",),
             how=f"{PHYSIONET} (physionet.org/content/mimic-cxr/2.0.0: mimic-cxr-reports.zip, unzipped)"),
    Resource("reflacx_root", "REFLACX 1.0.0 (gaze, transcripts, boxes)", ("main_data/metadata_phase_*.csv",),
             how=f"{PHYSIONET} (physionet.org/content/reflacx-xray-localization/1.0.0)"),
    Resource("egd_cxr_root", "EGD-CXR 1.0.0 (gaze, transcripts)", ("master_sheet.csv", "fixations.csv", "audio_segmentation_transcripts"),
             how=f"{PHYSIONET} (physionet.org/content/egd-cxr/1.0.0)"),
    Resource("chexpert_root", "CheXpert test set (images, labels)", ("test_labels.csv",),
             how="the CheXpert test set (Stanford AIMI), with test_labels.csv at its root"),
    Resource("chexpert_root", "CheXpert-test reports (Table 3's prompts)", ("reports.csv",),
             stand_in="prompts written from the 14 labels", how="a reports.csv (columns Path, report) beside test_labels.csv"),
    Resource("mimic_lt_root", "MIMIC-CXR-LT single-label files (Table 4)", ("mimic-cxr-lt_single-label_*.csv",),
             how="the MIMIC-CXR-LT release (PhysioNet, CXR-LT 2023)"),
    Resource("sd_source", "Stable Diffusion v1.5 weights (SD-CXR's start)", ("model_index.json",), hub=True,
             how="a local diffusers folder, or the hub id once it is in the Hugging Face cache (huggingface-cli download)"),
    Resource("xrv_weights_dir", "TorchXRayVision DenseNet-121 weights (hypothesis features, Table 3's classifier)",
             ("*densenet121*",), stand_in="an encoder / DenseNet-121 trained on the study's own data",
             how="the weight file of densenet121-res224-all (torchxrayvision's model_urls) in that folder"),
    Resource("inception_weights", "Inception-v3 weights of FID (Tables 1, 5)", stand_in="FID on the study's own features",
             how="pt_inception-2015-12-05-6726825d.pth (the torchmetrics / torch-fidelity file)"),
    Resource("clip_dir", "CLIP ViT-B/16 (Table 2's CLIP score)", ("config.json",), stand_in="a CLIP trained on the study's pairs",
             how="a transformers CLIP folder (openai/clip-vit-base-patch16, save_pretrained)"),
    Resource("lung_unet_weights", "the lung U-Net of ref. [70] (segmentation control)",
             stand_in="TorchXRayVision's PSPNet if pspnet_cache_dir is given, else Otsu + morphology", how="unet-6v.pt"),
    Resource("roentgen_dir", "RoentGen (a Table 2 baseline)", ("model_index.json",), stand_in="the RoentGen row left out",
             how="the RoentGen weights (on request from its authors), diffusers layout"),
)


def _hub_cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "model_index.json"), str)
    except Exception:  # an id the hub library refuses, or no hub library
        return False


def _lookup(res: Resource, value: str) -> str:
    """'found', or why not (a phrase)."""
    if not value:
        return "not given"
    path = Path(value).expanduser()
    if res.hub and not path.exists() and "/" in value and not value.startswith(("/", ".", "~")):
        return "found" if _hub_cached(value) else f"hub id {value!r} not in the local Hugging Face cache"
    if not path.exists():
        return f"{path} does not exist"
    lacking = [k for k in res.key if k and not glob.glob(str(path / k))]
    return f"{path} lacks {', '.join(lacking)}" if lacking else "found"


def check(steps, run_dir: str | Path) -> list[dict]:
    """One row per resource a profile's ``steps`` (``Study.resolve``) name: param, what,
    chapters, value, status ("found" | "missing" | "stand-in"), detail, stand_in, how.
    Values under ``{run_dir}`` (made by the run itself) are skipped."""
    from radgazegen.models import SIZES  # "tiny", "lesson", "small": parts the run builds from configs

    run_dir = Path(run_dir).resolve()
    rows = []
    for res in RESOURCES:
        chapters = [s.name for s in steps if res.param in s.params]
        if not chapters:
            continue
        value = str(steps[[s.name for s in steps].index(chapters[0])].params[res.param] or "")
        if value in SIZES or (value and Path(value).expanduser().resolve().is_relative_to(run_dir)):
            continue  # made by the run itself
        detail = _lookup(res, value)
        status = "found" if detail == "found" else ("stand-in" if res.stand_in else "missing")
        rows.append({"param": res.param, "what": res.what, "chapters": chapters, "value": value, "status": status,
                     "detail": detail, "stand_in": res.stand_in, "how": res.how})
    return rows


def report(profile: str, rows: list[dict]) -> str:
    """The rows as text: a line per resource, then what to do for each one not found."""
    lines = [f"preflight ({profile}): {sum(r['status'] == 'found' for r in rows)} of {len(rows)} external resources found"]
    for r in rows:
        first, last = r["chapters"][0][:2], r["chapters"][-1][:2]
        where = f"chapter {first}" if first == last else f"chapters {first}-{last}"
        lines.append(f"  {r['status']:8s} {r['param']:22s} {r['what']} ({where})")
        if r["status"] != "found":
            lines.append(f"           {r['detail']}; provide: {r['how']}")
            if r["status"] == "stand-in":
                lines.append(f"           stand-in without it: {r['stand_in']} (not the paper's quantity)")
    return "\n".join(lines)


def blocking(rows: list[dict], allow_stand_ins: bool) -> list[dict]:
    """The rows that stop a ``full`` run: every missing resource, and the stand-ins unless allowed."""
    return [r for r in rows if r["status"] == "missing" or (r["status"] == "stand-in" and not allow_stand_ins)]
