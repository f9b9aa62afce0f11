"""The wheelhouse for an offline install (``make wheelhouse``; ``radgazegen.study.offline`` installs it):
what the study needs at run time, resolved for the TARGET Python and platform (default CPython
3.12, manylinux x86_64) and pinned (``constraints/cpu.txt``, the server's known versions), less
what the server has (``constraints/offline.txt``), downloaded as wheels with ``requirements.txt``
and ``offline.json`` beside them. Standard library only at module level: runs from a clean clone."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from radgazegen.study.slim_wheels import SLIM, OfflineError, slim_wheel

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"
PREINSTALLED_FILE = REPO / "constraints" / "offline.txt"
PINS_FILE = REPO / "constraints" / "cpu.txt"
# Run-time dependencies the air-gapped server does not need: the book is built on a CPU machine.
EXCLUDED = frozenset({"jupyter-book", "sphinx-mathjax-offline", "ghp-import"})
MANIFEST = "offline.json"
REQUIREMENTS = "requirements.txt"
# What the study imports at run time (notebooks/ and radgazegen/): checked after the install.
RUNTIME_IMPORTS = (
    "torch", "torchvision", "numpy", "scipy", "pandas", "PIL", "yaml", "tqdm", "matplotlib", "cv2",
    "skimage", "sklearn", "torchmetrics", "torch_fidelity", "prdc", "torchxrayvision", "diffusers",
    "accelerate", "transformers", "safetensors", "open_clip", "pydicom", "papermill", "jupytext",
    "ipykernel", "nbformat", "IPython",
)
# ---------------------------------------------------------------------------------- names
def normalize(name: str) -> str:
    """PEP 503 name: runs of ``-``, ``_``, ``.`` become one ``-``, lower case."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def requirement_name(requirement: str) -> str:
    """The normalised project name at the start of a PEP 508 requirement string."""
    m = _NAME.match(requirement)
    if not m:
        raise OfflineError(f"not a requirement: {requirement!r}")
    return normalize(m.group(1))


def _lines(path: Path) -> list[str]:
    return [ln.split("#", 1)[0].strip() for ln in Path(path).read_text().splitlines()
            if ln.split("#", 1)[0].strip()]


def read_preinstalled(path: Path = PREINSTALLED_FILE) -> dict[str, str]:
    """The server's packages: normalised name -> version specifier ('' where unknown)."""
    out = {}
    for line in _lines(path):
        name = requirement_name(line)
        out[name] = line[_NAME.match(line).end():].strip()
    return out


def read_pins(path: Path = PINS_FILE) -> dict[str, str]:
    """A constraints file's ``name==version`` lines: normalised name -> the whole line."""
    return {requirement_name(line): line for line in _lines(path)}


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pip's vendored copy
        from pip._vendor import tomli as tomllib
    return tomllib.loads(Path(path).read_text())


def runtime_requirements(pyproject: Path = PYPROJECT, excluded=EXCLUDED) -> list[str]:
    """``[project].dependencies`` less ``excluded`` (the optional/dev extras are never read)."""
    deps = _toml(pyproject)["project"]["dependencies"]
    return [d for d in deps if requirement_name(d) not in set(map(normalize, excluded))]


def build_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    return list(_toml(pyproject).get("build-system", {}).get("requires", []))


def resolution_constraints(pins: dict[str, str], preinstalled: dict[str, str],
                           excluded=EXCLUDED) -> list[str]:
    """Constraint lines: the study's pins of what is shipped, the server's versions of the rest."""
    drop = set(preinstalled) | set(map(normalize, excluded))
    lines = [line for name, line in sorted(pins.items()) if name not in drop]
    lines += [f"{name}{spec}" for name, spec in sorted(preinstalled.items()) if spec]
    return lines


# ------------------------------------------------------------------------ target platform
def platform_tags(platform: str) -> list[str]:
    """pip ``--platform`` values for a manylinux target: ``manylinux_2_28_x86_64`` stands for
    every manylinux wheel a glibc 2.28 system takes (pip itself does not expand it)."""
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    if not m:
        return [platform]
    major, minor, arch = int(m.group(1)), int(m.group(2)), m.group(3)
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags = []
    for glibc in range(minor, 4, -1) if major == 2 else [minor]:
        tags.append(f"manylinux_{major}_{glibc}_{arch}")
        if major == 2 and glibc in legacy:
            tags.append(f"{legacy[glibc]}_{arch}")
    return tags


def target_flags(python_version: str, platform: str) -> list[str]:
    abi = "cp" + python_version.replace(".", "")
    flags = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
             "--abi", abi]
    for tag in platform_tags(platform):
        flags += ["--platform", tag]
    return flags


def target_environment(python_version: str, platform: str) -> dict[str, str]:
    """PEP 508 marker variables of the target (pip evaluates markers for the interpreter that
    runs it, whatever ``--python-version`` says: the walk in ``to_ship`` uses these)."""
    m = re.fullmatch(r"(?:many|musl)?linux(?:_\d+_\d+|2014|2010|1)?_(\w+)", platform)
    arch = m.group(1) if m else "x86_64"
    return {
        "python_version": python_version, "python_full_version": f"{python_version}.0",
        "implementation_name": "cpython", "implementation_version": f"{python_version}.0",
        "platform_python_implementation": "CPython", "os_name": "posix", "sys_platform": "linux",
        "platform_system": "Linux", "platform_machine": arch, "platform_release": "",
        "platform_version": "",
    }


def _packaging():
    try:
        from packaging.requirements import Requirement
    except ImportError:
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


# -------------------------------------------------------------------- what to ship
def to_ship(report: dict, roots: list[str], preinstalled, environment: dict[str, str]) -> dict[str, str]:
    """Name -> version of the report's packages that the target needs and does not have.

    Walks the requirements from ``roots`` through each package's ``requires_dist`` (markers
    evaluated for ``environment``, extras followed), never into a preinstalled package: what only
    the server's packages need is the server's business. A requirement the walk reaches that the
    report does not hold is an error (the resolution ran with another interpreter's markers).
    """
    Requirement = _packaging()
    preinstalled = {normalize(n) for n in preinstalled}
    items = {normalize(i["metadata"]["name"]): i for i in report.get("install", [])}
    shipped: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    missing: list[str] = []
    todo: list[tuple[str, str, str]] = [(r, "", "<requirements>") for r in roots]
    while todo:
        text, extra, parent = todo.pop()
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({**environment, "extra": extra}):
            continue
        name = normalize(req.name)
        if name in preinstalled:
            continue
        if name not in items:
            missing.append(f"{text} (needed by {parent})")
            continue
        meta = items[name]["metadata"]
        shipped[name] = meta["version"]
        for ex in ["", *sorted(normalize(e) for e in req.extras)]:
            if (name, ex) in seen:
                continue
            seen.add((name, ex))
            todo += [(dep, ex, name) for dep in meta.get("requires_dist") or []]
    if missing:
        raise OfflineError("the resolution lacks what the target needs (resolve with a Python "
                           "of the target's version, --resolver):\n  " + "\n  ".join(sorted(missing)))
    return dict(sorted(shipped.items()))


def replaced_preinstalled(report: dict, installed: dict[str, str], shipped, preinstalled=()) -> list[str]:
    """The packages a pip install ``report`` would upgrade or replace although the wheelhouse does
    not ship them (they were there before: the server's), or that the server's list names."""
    shipped = {normalize(n) for n in shipped}
    protected = {normalize(n) for n in preinstalled}
    installed = {normalize(n): v for n, v in installed.items()}
    out = []
    for item in report.get("install", []):
        name, version = normalize(item["metadata"]["name"]), item["metadata"]["version"]
        if (name in installed and name not in shipped) or name in protected:
            out.append(f"{name} {installed.get(name, '(not installed)')} -> {version}")
    return sorted(out)


# -------------------------------------------------------------------------- pip
def _pip_env(isolated: bool) -> dict[str, str]:
    """Environment for pip: offline installs ignore pip's configuration and PIP_* variables, so
    that the wheelhouse is the only source (no find-links or constraints of the machine's)."""
    env = dict(os.environ)
    if isolated:
        env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd: list[str], *, env=None, cwd=None, quiet=False) -> subprocess.CompletedProcess:
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, text=True,
                          capture_output=quiet)
    if proc.returncode:
        if quiet:
            sys.stderr.write(proc.stdout + proc.stderr)
        raise OfflineError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}")
    return proc


def _python_version(exe: str) -> str | None:
    try:
        out = subprocess.run([exe, "-c", "import sys, pip; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_resolver(python_version: str, given: str | None = None) -> tuple[str, bool]:
    """A Python with pip to resolve with, and whether it is of the target's version (then pip's
    own marker evaluation is the target's); else this interpreter, checked by ``to_ship``."""
    if given:
        found = _python_version(given)
        if found is None:
            raise OfflineError(f"--resolver {given}: not a Python with pip")
        return given, found == python_version
    candidates = [sys.executable, shutil.which(f"python{python_version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(map(str, pyenv.glob(f"{python_version}.*/bin/python{python_version}")),
                         reverse=True)
    for exe in filter(None, candidates):
        if _python_version(exe) == python_version:
            return exe, True
    return sys.executable, False


def resolve(requirements: list[str], constraints: list[str], flags: list[str], resolver: str,
            work: Path) -> dict:
    """pip's dry-run install report for ``requirements`` on the target (metadata only)."""
    (work / "requirements.in").write_text("\n".join(requirements) + "\n")
    (work / "constraints.in").write_text("\n".join(constraints) + "\n")
    report = work / "report.json"
    _run([resolver, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
          "--target", work / "target", *flags, "--report", report,
          "-c", work / "constraints.in", "-r", work / "requirements.in"], env=_pip_env(False))
    return json.loads(report.read_text())


def _size_report(dest: Path, max_mb: float | None) -> float:
    files = sorted((p for p in dest.iterdir() if p.suffix == ".whl"), key=lambda p: -p.stat().st_size)
    total = sum(p.stat().st_size for p in dest.iterdir() if p.is_file())
    print(f"\n{dest}: {len(files)} wheels, {total / 1e6:.1f} MB ({total / 2**20:.1f} MiB) in all; largest:")
    for p in files[:8]:
        print(f"  {p.stat().st_size / 1e6:7.1f} MB  {p.name}")
    if max_mb is not None and total / 1e6 >= max_mb:
        raise OfflineError(f"the wheelhouse is {total / 1e6:.1f} MB, not under {max_mb:g} MB")
    return total / 1e6


def _check_replaceable(dest: Path) -> None:
    """A wheelhouse is rebuilt whole: refuse a folder that is not one (or empty)."""
    if not dest.exists():
        return
    if not dest.is_dir():
        raise OfflineError(f"{dest} is not a folder")
    strays = [p.name for p in dest.iterdir() if not (p.is_file() and p.suffix in (".whl", ".txt", ".json"))]
    if strays or (any(dest.iterdir()) and not (dest / MANIFEST).exists()):
        raise OfflineError(f"{dest} is not a wheelhouse made here (no {MANIFEST}, or other files: "
                           f"{sorted(strays)[:5]}): not replacing it")


def build_wheelhouse(dest: Path, python_version: str = "3.12",
                     platform: str = "manylinux_2_28_x86_64", preinstalled_file: Path = PREINSTALLED_FILE,
                     pins_file: Path = PINS_FILE, resolver: str | None = None,
                     max_mb: float | None = None, slim: bool = True) -> dict:
    dest = Path(dest).resolve()
    _check_replaceable(dest)
    preinstalled = read_preinstalled(preinstalled_file)
    roots = runtime_requirements()
    constraints = resolution_constraints(read_pins(pins_file), preinstalled)
    flags = target_flags(python_version, platform)
    exe, same_version = find_resolver(python_version, resolver)
    print(f"resolving for CPython {python_version} {platform} with {exe}"
          + ("" if same_version else f" (markers re-checked for {python_version})"), flush=True)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:
        work = Path(tmp)
        report = resolve(roots, constraints, flags, exe, work)
        shipped = to_ship(report, roots, preinstalled, target_environment(python_version, platform))
        dropped = sorted({normalize(i["metadata"]["name"]) for i in report["install"]} - set(shipped))
        build = build_requirements()
        stage = work / "wheelhouse"
        _run([exe, "-m", "pip", "download", "--quiet", "--no-deps", *flags, "-d", stage,
              *[f"{n}=={v}" for n, v in shipped.items()]], env=_pip_env(False))
        slimmed = {}
        for wheel in sorted(stage.glob("*.whl")):
            name = normalize(wheel.name.split("-")[0])
            if slim and name in SLIM and name in shipped:
                drop, keep, why = SLIM[name]
                new = slim_wheel(wheel, drop, keep)
                shipped[name] = new.name.split("-")[1]
                slimmed[name] = why
        # the build backend of the editable install (pip's isolated build, offline); the target's
        # own setuptools is never replaced: requirements.txt does not name it.
        _run([exe, "-m", "pip", "download", "--quiet", *flags, "-d", stage, *build], env=_pip_env(False))
        manifest = {
            "python_version": python_version, "platform": platform, "platform_tags": platform_tags(platform),
            "requirements": roots, "excluded": sorted(EXCLUDED), "shipped": shipped, "build": build,
            "preinstalled": preinstalled, "left_to_the_server": dropped, "slimmed": slimmed,
        }
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        (stage / REQUIREMENTS).write_text(
            f"# radgazegen's run-time packages that the server lacks (CPython {python_version}, {platform}).\n"
            "# pip install --no-index --find-links <this folder> -r requirements.txt   (make offline-install)\n"
            + "".join(f"{n}=={v}\n" for n, v in shipped.items()))
        if dest.exists():
            _check_replaceable(dest)
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(stage), dest)
    print(f"shipped ({len(shipped)}): " + ", ".join(f"{n}=={v}" for n, v in shipped.items()))
    print(f"left to the server's packages ({len(dropped)}): " + ", ".join(dropped))
    _size_report(dest, max_mb)
    return manifest
