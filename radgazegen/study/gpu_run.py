"""One command for a GPU machine lent for minutes: install, run a profile, bring results back.

``python3 -m radgazegen.study.gpu_run --out DIR --deadline-s N`` (``make gpu-teach``) does, within N
seconds of wall time from its start, whatever the install took:

1. the offline install (``radgazegen.study.offline.install``) from the wheelhouse, once per machine
   (a second call on the same warm machine skips it: ``runs/.offline-installed``);
2. ``device.txt``: the GPU (``nvidia-smi``), the cores, the Python and package versions;
3. the profile (``python -m radgazegen run --profile teach``) until the deadline less
   ``PACK_RESERVE_S``; then Ctrl-C (SIGINT to its process group: the runner logs which chapter
   stopped, training keeps its last checkpoint), SIGKILL if it has not stopped in 20 s;
4. always, even after a stop or a failure: ``<profile>-chapters.tgz`` in DIR with the executed
   chapters, the runner's ``progress.log`` and each chapter's progress log (``logs/``), and the
   run's console output in ``<profile>.log``.

Run again on the same machine it goes on where it stopped (the runner skips finished chapters,
training resumes from its checkpoint). The first GPU run taught why the deadline is one number
for the whole command: a call whose outer time limit came before the packing step brought
nothing back.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Seconds kept back from the deadline for stopping the run and packing its results.
PACK_RESERVE_S = 45.0
INSTALLED_STAMP = "runs/.offline-installed"


def describe_machine(python: str = sys.executable) -> str:
    """The GPU(s), the cores and the stack's versions, as text (``device.txt``)."""
    lines = []
    try:
        lines.append(subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                     "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout.strip()
                     or "no GPU (nvidia-smi printed nothing)")
    except (OSError, subprocess.SubprocessError):
        lines.append("no GPU (no nvidia-smi)")
    lines.append(f"CPU cores: {os.cpu_count()}")
    versions = subprocess.run([python, "-c", "import sys, torch, transformers, diffusers; print('python', "
                               "sys.version.split()[0], 'torch', torch.__version__, 'transformers', "
                               "transformers.__version__, 'diffusers', diffusers.__version__)"],
                              capture_output=True, text=True, timeout=120)
    lines.append(versions.stdout.strip() or f"versions not read: {versions.stderr.strip()[-300:]}")
    return "\n".join(lines) + "\n"


def run_until(command: list[str], deadline: float, log: Path) -> int | None:
    """Run ``command`` (its own process group), output appended to ``log`` and echoed, until it
    exits or ``deadline`` (``time.monotonic()``) comes; then SIGINT, SIGKILL 20 s later.
    Returns its exit code, None when it was stopped."""
    with open(log, "a", encoding="utf-8") as fh:
        proc = subprocess.Popen(command, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if proc.poll() is not None:
            return proc.returncode
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        fh.write(f"\n[gpu_run] stopped at the deadline ({' '.join(command[-3:])})\n")
        return None


def pack(run_dir: Path, dest: Path) -> Path:
    """``dest`` (.tgz): the run's executed chapters (``notebooks/NN_*.ipynb``, unfinished ones
    included as ``*.running.ipynb``), ``progress.log`` and ``logs/``; paths relative to the run."""
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted([*run_dir.glob("notebooks/[0-9][0-9]_*.ipynb"), run_dir / "progress.log",
                            *run_dir.glob("logs/*.log")]):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(run_dir)))
    return dest


def gpu_run(out: Path, deadline_s: float, profile: str = "teach", wheelhouse: Path | None = None,
            command: list[str] | None = None) -> int | None:
    """The module docstring's steps; returns the profile run's exit code (None: stopped at the
    deadline). ``wheelhouse`` None skips the install; ``command`` replaces the profile run (tests)."""
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"{profile}.log"
    stamp = REPO / INSTALLED_STAMP
    if wheelhouse is not None and not stamp.exists():
        from radgazegen.study.offline import install

        install(Path(wheelhouse))
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(f"installed from {wheelhouse} in {time.monotonic() - start:.0f} s\n")
    (out / "device.txt").write_text(describe_machine())
    command = command or [sys.executable, "-m", "radgazegen", "run", "--profile", profile]
    left = deadline_s - (time.monotonic() - start) - PACK_RESERVE_S
    code = run_until(command, time.monotonic() + max(left, 0.0), log) if left > 0 else None
    pack(REPO / "runs" / profile, out / f"{profile}-chapters.tgz")
    print(f"[gpu_run] {profile}: {'stopped at the deadline' if code is None else f'exit code {code}'}; "
          f"{time.monotonic() - start:.0f} s in all; results in {out}", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m radgazegen.study.gpu_run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder that comes back from the machine")
    ap.add_argument("--deadline-s", type=float, required=True, help="wall-clock seconds for the whole command")
    ap.add_argument("--profile", default="teach")
    ap.add_argument("--wheelhouse", default="wheelhouse", help="'' to skip the install")
    args = ap.parse_args(argv)
    code = gpu_run(Path(args.out), args.deadline_s, args.profile, Path(args.wheelhouse) if args.wheelhouse else None)
    return 0 if code in (0, None) else code


if __name__ == "__main__":
    sys.exit(main())
