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

The CPU part first (``make teach-cpu`` here): the chapters that need no GPU (00-03: the cohort,
data preparation, control maps, hypotheses) run on a CPU machine, and ``--pack-run`` writes the
run directory as one bundle (``pack_run``). ``--bundle FILE`` on the GPU machine unpacks it into
``runs/<profile>/`` before the run (``unpack_run``; once: a run directory already there is kept);
the runner then finds 00-03 up to date by its own rule (same sources, parameters and artifact
contents: the state holds paths relative to the repository) and starts at 04. A changed chapter
or module is stale there as anywhere, and runs again.

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


#: What a run directory's bundle leaves out: the runner's lock and unfinished temporary files.
SKIPPED_IN_BUNDLE = (".lock", ".tmp-")


def pack_run(run_dir: Path, dest: Path) -> Path:
    """``dest`` (.tgz): the whole run directory ``run_dir`` (``runs/<profile>``: artifacts, executed
    chapters, ``.state/``, logs), paths relative to ``run_dir``'s parent, the lock and temporary
    files left out. Written atomically (a ``.part`` file renamed)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with tarfile.open(part, "w:gz", compresslevel=6) as tar:
        for path in sorted(run_dir.rglob("*")):
            if path.is_file() and not any(s in path.name for s in SKIPPED_IN_BUNDLE):
                tar.add(path, arcname=str(path.relative_to(run_dir.parent)))
    part.replace(dest)
    return dest


def unpack_run(bundle: Path, runs: Path, profile: str) -> bool:
    """Unpack ``bundle`` (``pack_run``'s) into ``runs`` when ``runs/<profile>`` does not exist yet;
    False (nothing touched) when it does. Every member must lie under ``<profile>/`` (no absolute
    path, no ``..``, no link), else ValueError naming the bundle and the member."""
    if (runs / profile).exists():
        return False
    if not bundle.is_file():
        raise FileNotFoundError(f"{bundle}: bundle not found (make teach-cpu writes it)")
    with tarfile.open(bundle, "r:gz") as tar:
        members = tar.getmembers()
        for m in members:
            parts = Path(m.name).parts
            if Path(m.name).is_absolute() or ".." in parts or not parts or parts[0] != profile or not (m.isfile() or m.isdir()):
                raise ValueError(f"{bundle}: member {m.name!r} is not a file under {profile}/")
        tmp = runs / f".unpack-{profile}"
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        tar.extractall(tmp, members=members, filter="data")
    (tmp / profile).replace(runs / profile)
    tmp.rmdir()
    return True


#: Parameters a rehearsal keeps at the profile's value: they choose a code path, not a size.
REHEARSAL_KEEPS = {"concurrent_models"}


def rehearsal_overrides(profile: str = "teach", like: str = "smoke", first: str = "04") -> list[str]:
    """The runner's ``-p NN_name.key=value`` that run ``profile``'s chapters from ``first`` on at
    ``like``'s sizes: every key ``profile``'s parameters file sets, except paths (``{run_dir}``),
    gets ``like``'s value (its file's, else the notebook's default); ``REHEARSAL_KEEPS`` keep
    ``profile``'s value (the code path the GPU run takes). The CPU rehearsal of the GPU
    command: the same chapters, bundle, runner and packing, at sizes a CPU runs in minutes."""
    import ast

    import yaml

    from radgazegen.study.parameters import declared_parameters, load_parameters_file

    out = []
    for path in sorted((REPO / "params" / profile).glob("[0-9][0-9]_*.yml")):
        if path.stem[:2] < first:
            continue
        mine = load_parameters_file(path)
        theirs_file = REPO / "params" / like / path.name
        theirs = load_parameters_file(theirs_file) if theirs_file.is_file() else {}
        declared = declared_parameters(REPO / "notebooks" / f"{path.stem}.py")
        for key, value in mine.items():
            if "{run_dir}" in str(value) or key not in declared or key in REHEARSAL_KEEPS:
                continue
            other = theirs[key] if key in theirs else ast.literal_eval(declared[key]["default"])
            if other != value:
                out.append(f"{path.stem}.{key}=" + yaml.safe_dump(other, default_flow_style=True, width=10 ** 6).strip().removesuffix("\n..."))
    return out


def gpu_run(out: Path, deadline_s: float, profile: str = "teach", wheelhouse: Path | None = None,
            command: list[str] | None = None, bundle: Path | None = None,
            overrides: list[str] = ()) -> int | None:
    """The module docstring's steps; returns the profile run's exit code (None: stopped at the
    deadline). ``wheelhouse`` None skips the install; ``bundle``: the CPU part's run directory
    (``pack_run``), unpacked first; ``overrides``: the runner's ``-p key=value`` (a CPU rehearsal at
    tiny sizes runs the same commands); ``command`` replaces the profile run (tests)."""
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"{profile}.log"
    if bundle is not None and unpack_run(Path(bundle), REPO / "runs", profile):
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"[gpu_run] unpacked {bundle} into runs/{profile} in {time.monotonic() - start:.1f} s\n")
    stamp = REPO / INSTALLED_STAMP
    if wheelhouse is not None and not stamp.exists():
        from radgazegen.study.offline import install

        install(Path(wheelhouse))
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(f"installed from {wheelhouse} in {time.monotonic() - start:.0f} s\n")
    (out / "device.txt").write_text(describe_machine())
    command = command or [sys.executable, "-m", "radgazegen", "run", "--profile", profile,
                          *[a for o in overrides for a in ("-p", o)]]
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
    ap.add_argument("--deadline-s", type=float, default=0.0, help="wall-clock seconds for the whole command")
    ap.add_argument("--profile", default="teach")
    ap.add_argument("--wheelhouse", default="wheelhouse", help="'' to skip the install")
    ap.add_argument("--bundle", default="", help="the CPU part's run directory (--pack-run's file), unpacked first")
    ap.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="the runner's parameter override, repeatable (a CPU rehearsal at tiny sizes)")
    ap.add_argument("--rehearse", default="", metavar="PROFILE",
                    help="run the chapters from 04 on at PROFILE's sizes (smoke): the CPU rehearsal of this command")
    ap.add_argument("--pack-run", action="store_true",
                    help="on the CPU machine: write runs/<profile> as the bundle --out names (a .tgz file), then stop")
    args = ap.parse_args(argv)
    if args.pack_run:
        dest = pack_run(REPO / "runs" / args.profile, Path(args.out))
        print(f"[gpu_run] runs/{args.profile} packed into {dest} ({dest.stat().st_size / 2 ** 20:.1f} MiB)")
        return 0
    if args.deadline_s <= 0:
        ap.error("--deadline-s: give the command's wall-clock seconds (a positive number)")
    code = gpu_run(Path(args.out), args.deadline_s, args.profile, Path(args.wheelhouse) if args.wheelhouse else None,
                   bundle=Path(args.bundle) if args.bundle else None,
                   overrides=[*(rehearsal_overrides(args.profile, args.rehearse) if args.rehearse else []), *args.overrides])
    return 0 if code in (0, None) else code


if __name__ == "__main__":
    sys.exit(main())
