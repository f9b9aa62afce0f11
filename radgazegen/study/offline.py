"""Offline install on an air-gapped GPU server whose Python already has a CUDA PyTorch stack.

Two steps (README, "Offline install (air-gapped GPU server)"):

``python3 -m radgazegen.study.offline wheelhouse`` (``make wheelhouse``), on a machine with network:
    resolves what the study needs at run time (``pyproject.toml``'s dependencies less
    jupyter-book, which builds the book later on a CPU machine, and less the dev extra) for the
    TARGET interpreter and platform (default CPython 3.12, manylinux x86_64), pinned by
    ``constraints/cpu.txt`` and by the versions the server is known to have; leaves out every
    package the server already has (``constraints/offline.txt``) and whatever only those need;
    downloads the rest as wheels, two of them rewritten without data files the study never
    reads (``SLIM``), plus the project's build backend (setuptools) so that the editable install
    of the project builds offline; writes ``requirements.txt`` (what to install) and
    ``offline.json`` (what it was built for) beside them, and prints its size.

``python3 -m radgazegen.study.offline install`` (``make offline-install``), with the server's python:
    ``pip install --no-index --find-links WHEELHOUSE -r requirements.txt`` with dependency checks
    against what is installed, after a dry run that refuses to upgrade or replace anything the
    server had; then the project itself (editable, ``--no-deps``), the ``python3`` kernelspec,
    the torchvision start-up hook only where ``import torchvision`` fails without it (the CPU
    build of torch), and a check in a fresh interpreter that the stack imports.

Standard library only at module level (plus ``packaging``, or pip's vendored copy, inside the
functions that need it): it runs as plain ``python3 -m radgazegen.study.offline`` from a clean clone.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


from radgazegen.study.slim_wheels import DICOM_SAMPLE
from radgazegen.study.wheelhouse import (  # noqa: F401  (build_wheelhouse: the command line's `wheelhouse`)
    REPO,
    PREINSTALLED_FILE,
    PINS_FILE,
    MANIFEST,
    REQUIREMENTS,
    RUNTIME_IMPORTS,
    OfflineError,
    normalize,
    replaced_preinstalled,
    _pip_env,
    _run,
    build_wheelhouse,
)


# -------------------------------------------------------------------------- install
def _installed() -> dict[str, str]:
    from importlib.metadata import distributions

    return {normalize(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}


_CHECK = r"""
import importlib, json, os, sys
mods = json.loads(sys.argv[1])
for m in mods:
    importlib.import_module(m)
import radgazegen, torch
from pydicom.data import get_testdata_file
from jupyter_client.kernelspec import KernelSpecManager
spec = KernelSpecManager().get_kernel_spec("python3")
exe = spec.argv[0]
if exe in ("python", "python3", "python%d.%d" % sys.version_info[:2]):  # jupyter_client runs sys.executable
    exe = sys.executable
print(json.dumps({"radgazegen": radgazegen.__file__, "torch": torch.__version__,
                  "cuda": torch.cuda.is_available(), "dicom": get_testdata_file(sys.argv[2], download=False),
                  "kernel": spec.resource_dir, "kernel_python": exe,
                  "same_python": os.path.realpath(exe) == os.path.realpath(sys.executable)}))
"""


def check_stack(python: str = sys.executable) -> dict:
    """Import the study's stack in a fresh interpreter (outside the checkout) and resolve the
    ``python3`` kernel as papermill will; raise unless all is there and the kernel is ``python``."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([python, "-c", _CHECK, json.dumps(RUNTIME_IMPORTS), DICOM_SAMPLE],
                              capture_output=True, text=True, cwd=tmp)
    if proc.returncode:
        raise OfflineError("the study's stack does not import:\n" + proc.stderr[-3000:])
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    if not found["dicom"]:
        raise OfflineError(f"{DICOM_SAMPLE} (pydicom-data) not found: notebook 02 reads it")
    if not found["same_python"]:
        raise OfflineError(f"the 'python3' kernelspec in {found['kernel']} runs {found['kernel_python']}, "
                           f"not {python}: remove it or run `{python} -m ipykernel install --sys-prefix "
                           "--name python3`")
    if not str(Path(found["radgazegen"]).resolve()).startswith(str(REPO)):
        raise OfflineError(f"radgazegen imports from {found['radgazegen']}, not from {REPO}")
    return found


def install(wheelhouse: Path, pip_args: list[str] = (), force_version: bool = False) -> dict:
    """Install the wheelhouse into this interpreter's environment (see the module docstring)."""
    wheelhouse = Path(wheelhouse).resolve()
    manifest = json.loads((wheelhouse / MANIFEST).read_text())
    here = "%d.%d" % sys.version_info[:2]
    if manifest["python_version"] != here and not force_version:
        raise OfflineError(f"{wheelhouse} was built for Python {manifest['python_version']}, "
                           f"this is {here} ({sys.executable})")
    env = _pip_env(True)
    pip = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", wheelhouse,
           "--no-input", *pip_args]
    requirements = ["-r", wheelhouse / REQUIREMENTS]
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        _run([*pip, "--dry-run", "--quiet", "--report", report_path, *requirements], env=env)
        report = json.loads(report_path.read_text())
    replaced = replaced_preinstalled(report, _installed(), manifest["shipped"], manifest["preinstalled"])
    if replaced:
        raise OfflineError("pip would upgrade or replace packages the server already has; nothing "
                           "installed:\n  " + "\n  ".join(replaced))
    todo = [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in report.get("install", [])]
    print(f"to install ({len(todo)}): " + (", ".join(todo) or "nothing, all there"), flush=True)
    _run([*pip, "--quiet", *requirements], env=env)  # dependencies checked against what is installed
    # the project itself, editable (the runner finds notebooks/ and params/ beside the package);
    # --no-deps: its metadata names jupyter-book, which the server does not need
    _run([*pip, "--no-deps", "--quiet", "-e", REPO], env=env)
    _run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3",
          "--display-name", "Python 3 (radgazegen)"])
    fresh = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True,
                           cwd=tempfile.gettempdir())
    if fresh.returncode:  # the CPU build of torch with PyPI's torchvision (README): the start-up hook
        print("import torchvision fails in a fresh interpreter: installing the start-up hook", flush=True)
        _run([sys.executable, "-m", "radgazegen._startup", "--install-hook"], cwd=REPO)
    else:
        print("import torchvision works: no start-up hook needed", flush=True)
    found = check_stack(sys.executable)
    print(f"stack imports: torch {found['torch']} (CUDA available: {found['cuda']}), radgazegen from "
          f"{Path(found['radgazegen']).parent}, kernel python3 -> {found['kernel_python']}")
    problems = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True,
                              env=env).stdout.splitlines()
    unexpected = [p for p in problems if not p.startswith("radgazegen ") and "No broken" not in p]
    expected = [p for p in problems if p.startswith("radgazegen ")]
    if expected:
        print("pip check, expected (not needed on this server):\n  " + "\n  ".join(expected))
    if unexpected:
        print("pip check reports (the server's own packages, or the shipped ones):\n  " + "\n  ".join(unexpected))
    return found


# -------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m radgazegen.study.offline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    wh = sub.add_parser("wheelhouse", help="collect the wheels the target lacks (needs network)")
    wh.add_argument("--dest", default="wheelhouse")
    wh.add_argument("--python-version", default="3.12")
    wh.add_argument("--platform", default="manylinux_2_28_x86_64")
    wh.add_argument("--preinstalled", default=str(PREINSTALLED_FILE))
    wh.add_argument("--pins", default=str(PINS_FILE))
    wh.add_argument("--resolver", default=None, help="a Python of the target's version to resolve with")
    wh.add_argument("--max-mb", type=float, default=None)
    wh.add_argument("--no-slim", action="store_true", help="ship the wheels of SLIM whole")
    ins = sub.add_parser("install", help="install a wheelhouse into this Python (no network)")
    ins.add_argument("--wheelhouse", default="wheelhouse")
    ins.add_argument("--pip-arg", action="append", default=[], help="passed to pip install")
    ins.add_argument("--force-version", action="store_true", help="install whatever Python it was built for")
    sub.add_parser("check", help="check that the study's stack imports in this Python")
    args = ap.parse_args(argv)
    try:
        if args.command == "wheelhouse":
            build_wheelhouse(Path(args.dest), args.python_version, args.platform, Path(args.preinstalled),
                             Path(args.pins), args.resolver or None, args.max_mb, not args.no_slim)
        elif args.command == "install":
            install(Path(args.wheelhouse), args.pip_arg, args.force_version)
        else:
            print(json.dumps(check_stack(sys.executable), indent=1))
    except OfflineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
