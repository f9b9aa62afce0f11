"""The run directory's artifacts: who writes each one, who reads it, and what it holds.

Every chapter writes its outputs under the profile's run directory (``runs/<profile>/``),
and later chapters read some of them. This module is the one place that knows those
paths: ``ARTIFACTS`` lists every artifact that crosses chapters, with its writer and
readers, and ``Run`` has a typed reader and writer for each. Notebooks and the package use
``Run`` and never join run-directory paths by hand.

Reads are recorded: when the runner executes a chapter it sets ``RADGAZEGEN_STEP`` to the
chapter's name, and each read of another chapter's artifact is written to
``<run_dir>/.state/reads/<step>.json`` (``{name: {"path": ..., "writer": ...}}``). The runner
checks those reads against the chapter's declared upstream and re-runs the chapter when
the content of what it read changes (``radgazegen.study.runner``).

Who writes, who reads (chapter numbers):

======================  ==========================================  ======  =================
artifact                path under the run directory                writer  readers
======================  ==========================================  ======  =================
cohort                  cohort/ (the real datasets' layouts)        00      01-07, 09-11, 15
split                   01_data_preparation/split.csv               01      02-07 (items), 15
controls                02_control_maps/controls.json               02      04-07 (items)
hypotheses              03_hypotheses/hypotheses.csv                03      06, 07, 10, 11, 13
study_encoder           03_hypotheses/study_encoder/                03      08, 12 (FID), 15
tokenizer               tokenizer/ (CLIP BPE, offline)              04      09
sd_cxr                  04_sd_cxr/model/ (diffusers layout)         04      05-07, 10, 11, 13, 15
rad_cn                  05_rad_cn/models.json                       05      06, 07, 10, 11, 13
hva_cn                  06_hva_cn/models.json                       06      07, 10, 11, 13
generation              07_generation/ (methods.json, folders)      07      08, 09, 12, 13, 15
result:<table>          results/<table>.csv .json .evidence.npz     08-13   14 (15's: the book build)
======================  ==========================================  ======  =================

Each chapter may also keep private outputs in ``Run.chapter_dir(step)`` (checkpoints,
figures' data); nothing else reads them.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radgazegen.core.io import write_json, write_text

#: Environment variable naming the chapter the runner is executing.
STEP_VARIABLE = "RADGAZEGEN_STEP"


@dataclass(frozen=True)
class Artifact:
    """One cross-chapter artifact: ``path`` relative to the run directory (a file or a folder),
    the chapter that writes it, the chapters that read it, and what it holds."""

    name: str
    path: str
    writer: str
    readers: tuple[str, ...]
    what: str


ARTIFACTS: dict[str, Artifact] = {a.name: a for a in (
    Artifact("cohort", "cohort", "00_synthetic_cohort",
             ("01_data_preparation", "02_control_maps", "03_hypotheses", "04_sd_cxr", "05_rad_cn", "06_hva_cn",
              "07_generation", "09_table2_controllability", "10_table3_classification", "11_table4_long_tail",
              "15_memorisation"),
             "the synthetic cohort, one folder per dataset in the real releases' layouts, plus ground_truth/"),
    Artifact("split", "01_data_preparation/split.csv", "01_data_preparation",
             ("02_control_maps", "03_hypotheses", "04_sd_cxr", "05_rad_cn", "06_hva_cn", "07_generation", "15_memorisation"),
             "one row per gaze image: dicom_id, split (train | test), gaze_source, reading_ids, n_readers"),
    Artifact("controls", "02_control_maps/controls.json", "02_control_maps",
             ("04_sd_cxr", "05_rad_cn", "06_hva_cn", "07_generation"),
             "control name (canny, sobel, gl, segmentation) -> map-cache folder of <dicom_id>.png, 512 px uint8"),
    Artifact("hypotheses", "03_hypotheses/hypotheses.csv", "03_hypotheses",
             ("06_hva_cn", "07_generation", "10_table3_classification", "11_table4_long_tail", "13_gaze_localisation"),
             "one row per (image, finding): bag, scores D(f_B, f_H), the selected hypothesis (control_path), "
             "the dilated gaze mask (mask_path)"),
    Artifact("study_encoder", "03_hypotheses/study_encoder", "03_hypotheses",
             ("08_table1_fid", "12_table5_ablation", "15_memorisation"),
             "the study-trained image encoder (safetensors): features for hypotheses and 'FID (study features)'"),
    Artifact("tokenizer", "tokenizer", "04_sd_cxr", ("09_table2_controllability",),
             "CLIP tokenizer files (vocab.json, merges.txt) made offline from open_clip's BPE vocabulary"),
    Artifact("sd_cxr", "04_sd_cxr/model", "04_sd_cxr",
             ("05_rad_cn", "06_hva_cn", "07_generation", "10_table3_classification", "11_table4_long_tail",
              "13_gaze_localisation", "15_memorisation"),
             "SD-CXR in diffusers layout (loads in a stock StableDiffusionPipeline)"),
    Artifact("rad_cn", "05_rad_cn/models.json", "05_rad_cn",
             ("06_hva_cn", "07_generation", "10_table3_classification", "11_table4_long_tail", "13_gaze_localisation"),
             "Rad-CN and the radiomics baselines: design, resolution, model name -> ControlNet / adapter folder"),
    Artifact("hva_cn", "06_hva_cn/models.json", "06_hva_cn",
             ("07_generation", "10_table3_classification", "11_table4_long_tail", "13_gaze_localisation"),
             "HVA-CN and the gaze baselines: model name -> folder, scales; HVA-CN (Eq. 5) and the oracle with their "
             "kept checkpoints and steps (chapter 13's primary test)"),
    Artifact("generation", "07_generation", "07_generation",
             ("08_table1_fid", "09_table2_controllability", "12_table5_ablation", "13_gaze_localisation",
              "15_memorisation"),
             "methods.json (the methods' registry, methods.Registry: name -> folder, kind, controls, uses_gaze, models), "
             "one folder of PNGs + manifest.csv per method, real/, controls.npz"),
)}

#: Which chapter writes each results table (``result:<table>`` artifacts, read by 14).
RESULT_WRITERS: dict[str, str] = {
    "table1": "08_table1_fid", "table2": "09_table2_controllability", "table3": "10_table3_classification",
    "table4": "11_table4_long_tail", "table5": "12_table5_ablation", "localisation": "13_gaze_localisation",
    "moved_gaze": "13_gaze_localisation", "mirrored_gaze": "13_gaze_localisation",
    "memorisation": "15_memorisation",
}
#: The results tables chapter 14 checks the claims on: those of chapters 08-13 (15's, which runs
#: after 14, is read by the book build's publication guard).
CLAIMS_TABLES: tuple[str, ...] = tuple(t for t, writer in RESULT_WRITERS.items() if writer != "15_memorisation")

_current: "Run | None" = None


def record_path(path: str | os.PathLike) -> None:
    """Record a read of ``path`` (e.g. a data root given as a parameter) if it lies inside an
    artifact of the current run (the cohort, for the synthetic profiles); else nothing."""
    if _current is not None:
        _current.note_path(path)


def as_run(run: "Run | str | os.PathLike") -> "Run":
    """``run`` itself if it is a ``Run``, else the ``Run`` of that run directory."""
    return run if isinstance(run, Run) else Run(run)


class Run:
    """One profile's run directory, with a typed reader and writer per artifact.

    run_dir: ``runs/<profile>`` (the runner passes it to every chapter as ``run_dir``).
    Creating a ``Run`` makes it the current one for ``record_path``.
    """

    def __init__(self, run_dir: str | os.PathLike):
        global _current
        self.dir = Path(run_dir)
        self.step = os.environ.get(STEP_VARIABLE, "")
        _current = self

    # ------------------------------------------------------------------ bookkeeping
    def path(self, name: str) -> Path:
        """Where artifact ``name`` lives (for its writer; no read is recorded)."""
        return self.dir / ARTIFACTS[name].path

    def chapter_dir(self, step: str) -> Path:
        """A chapter's private output folder (checkpoints, intermediate files); only it reads them."""
        return self.dir / step

    def _read(self, name: str, path: Path, writer: str, what: str = "file") -> Path:
        """Record the read of ``name`` at ``path`` and check it exists (naming the writer)."""
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing {what}; run chapter {writer} first "
                                    f"(`python -m radgazegen run --profile {self.dir.name} --only {writer}`)")
        if self.step and writer != self.step:
            log = self.dir / ".state" / "reads" / f"{self.step}.json"
            reads = json.loads(log.read_text()) if log.is_file() else {}
            entry = {"path": path.relative_to(self.dir).as_posix(), "writer": writer}
            if reads.get(name) != entry:
                reads[name] = entry
                write_json(log, reads)
        return path

    def use(self, name: str) -> Path:
        """The path of artifact ``name`` for reading it (recorded; must exist)."""
        a = ARTIFACTS[name]
        return self._read(name, self.dir / a.path, a.writer, a.what.split(":")[0])

    def note_path(self, path: str | os.PathLike) -> None:
        """Record the artifact that contains ``path``, if any (data roots inside the cohort)."""
        try:
            rel = Path(path).resolve().relative_to(self.dir.resolve())
        except ValueError:
            return
        for a in ARTIFACTS.values():
            if rel.parts[: len(Path(a.path).parts)] == Path(a.path).parts:
                self.use(a.name)
                return

    # ------------------------------------------------------------------ 01: the split
    def write_split(self, split: pd.DataFrame) -> Path:
        return write_text(self.path("split"), split.to_csv(index=False))

    def read_split(self) -> pd.DataFrame:
        """The paper's split (``radgazegen.data.split.SPLIT_COLUMNS``)."""
        return pd.read_csv(self.use("split"))

    # ------------------------------------------------------------------ 02: control maps
    def write_controls(self, folders: dict[str, Path]) -> Path:
        """Control name -> map-cache folder (stored relative to the run directory)."""
        return write_json(self.path("controls"), {k: Path(v).relative_to(self.dir).as_posix() for k, v in folders.items()})

    def read_controls(self) -> dict[str, Path]:
        """Control name -> folder of ``<dicom_id>.png`` maps."""
        return {k: self.dir / v for k, v in json.loads(self.use("controls").read_text()).items()}

    # ------------------------------------------------------------------ 03: hypotheses
    def write_hypotheses(self, table: pd.DataFrame) -> Path:
        return write_text(self.path("hypotheses"), table.to_csv(index=False))

    def read_hypotheses(self) -> pd.DataFrame:
        """One row per (image, finding) of both splits; ``control_path`` is the selected
        hypothesis (HVA-CN's control), ``mask_path`` the dilated gaze mask (0 / 255; the
        control of the HVA-CN of Eq. 5), PNGs in the run's map cache."""
        return pd.read_csv(self.use("hypotheses"))

    # ------------------------------------------------------------------ 04-06: models
    def read_models(self) -> tuple[Path, dict, dict]:
        """``(SD-CXR folder, Rad-CN models.json, HVA-CN models.json)`` (chapters 04-06)."""
        return self.use("sd_cxr"), self.read_registry("rad_cn"), self.read_registry("hva_cn")

    def write_registry(self, name: str, registry: dict) -> Path:
        """``models.json`` of chapter 05 (``rad_cn``) or 06 (``hva_cn``): model name -> folder, settings."""
        return write_json(self.path(name), registry)

    def read_registry(self, name: str) -> dict:
        return json.loads(self.use(name).read_text())

    # ------------------------------------------------------------------ 07: generation
    def generation_dir(self) -> Path:
        """Chapter 07's output folder (for its writer)."""
        return self.path("generation")

    def read_generation_dir(self) -> Path:
        """Chapter 07's output folder, for the evaluation chapters (recorded)."""
        return self.use("generation")

    # ------------------------------------------------------------------ 08-14: results
    def result_path(self, table: str) -> Path:
        if table not in RESULT_WRITERS:
            raise KeyError(f"unknown results table {table!r}; expected one of {sorted(RESULT_WRITERS)}")
        return self.dir / "results" / f"{table}.csv"

    def write_result(self, table: str, long: pd.DataFrame, info: dict) -> Path:
        """``results/<table>.csv`` (row, column, mean, std) and ``<table>.json`` (info)."""
        path = self.result_path(table)
        write_text(path, long.to_csv(index=False))
        write_json(path.with_suffix(".json"), info)
        return path

    def evidence_path(self, table: str) -> Path:
        """``results/<table>.evidence.npz``: the per-finding, per-seed evidence behind the table's
        cells (``radgazegen.core.intervals``), written with the table by the same chapter."""
        return self.result_path(table).with_suffix(".evidence.npz")

    def read_evidence(self, table: str) -> dict:
        """The table's evidence ((row, column) -> ``intervals.Evidence``), {} when its chapter saved
        none (the read is recorded as one of ``result:<table>``)."""
        from radgazegen.core.intervals import load_evidence

        self._read(f"result:{table}", self.result_path(table), RESULT_WRITERS[table], f"results of {table}")
        path = self.evidence_path(table)
        return load_evidence(path) if path.is_file() else {}

    def read_result(self, table: str) -> tuple[pd.DataFrame, dict]:
        path = self._read(f"result:{table}", self.result_path(table), RESULT_WRITERS[table], f"results of {table}")
        info = path.with_suffix(".json")
        return pd.read_csv(path), (json.loads(info.read_text()) if info.is_file() else {})

