"""Benchmarks that print figures (never asserted): ``python -m radgazegen bench``.

- cohort generation throughput: images/s for ``n`` images at 512x512 (target: 200 in < 30 s);
- the smoke main job's wall time: every smoke notebook from scratch, then the book
  (target once all notebooks exist: < 10 minutes after install).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def cohort_throughput(n_images: int = 200, size: tuple[int, int] = (512, 512)) -> dict[str, float]:
    """Generate a cohort of ``n_images`` MIMIC-CXR-style radiographs in a temp folder; timing."""
    from radgazegen.cohort import CohortConfig, generate_cohort

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generate_cohort(Path(tmp) / "cohort", CohortConfig(seed=0, n_mimic=n_images, n_chexpert=0,
                                                           image_size=size), progress=True)
        dt = time.perf_counter() - t0
    return {"images": n_images, "seconds": dt, "images_per_s": n_images / dt}


def smoke_main_job() -> dict[str, float]:
    """Run the smoke profile from scratch into a temp run folder, then build the book."""
    from radgazegen.book import build_book
    from radgazegen.runner import Study

    with tempfile.TemporaryDirectory() as tmp:
        study = Study(runs=Path(tmp))
        t0 = time.perf_counter()
        results = study.run("smoke", force=True)
        t_run = time.perf_counter() - t0
        build_book("smoke", study=study, source=study.run_dir("smoke") / "notebooks")
        t_all = time.perf_counter() - t0
    out = {f"notebook {name} (s)": dt for name, _, dt in results}
    out.update({"notebooks (s)": t_run, "notebooks + book (s)": t_all})
    return out


def main(n_images: int = 200, run_main_job: bool = True) -> None:
    print(f"machine: {os.cpu_count()} CPU cores")
    c = cohort_throughput(n_images)
    print(f"cohort generation: {c['images']} images at 512x512 in {c['seconds']:.1f} s "
          f"= {c['images_per_s']:.1f} images/s (target: 200 images in < 30 s)")
    if run_main_job:
        for k, v in smoke_main_job().items():
            print(f"smoke main job, {k}: {v:.1f}")
        print("(target: the whole smoke main job under 10 minutes once all notebooks exist)")
