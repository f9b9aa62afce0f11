"""Make torchvision importable on the CPU-only torch build.

PyPI has no CPU build of torchvision: the 0.28.0 wheel pinned with the CPU build
of torch 2.13.0 (``constraints/cpu.txt``) ships a compiled extension linked against
CUDA, which cannot load there. torchvision's Python code still works, but its import
registers fake kernels for ``torchvision::nms`` / ``torchvision::qnms`` and fails
when those operator schemas are missing. We declare the two schemas first, so that
``import torchvision`` (and, through it, transformers, diffusers and torchxrayvision)
succeeds. Nothing in this study calls the detection ops.

On a torch/torchvision pair that loads normally (the GPU constraints) this is a no-op.

``install_startup_hook`` makes the same fix apply in any interpreter of the environment,
without importing radgazegen first (``radgazegen/_startup.py``; run by ``make setup``).
"""
from __future__ import annotations

import glob
import importlib.util
import os
import py_compile
import sys
import sysconfig
import tempfile
from pathlib import Path

_LIBRARY = None  # keep the torch.library.Library alive for the process lifetime
_STARTED = False  # the work below runs once per process


def ensure_torchvision_importable() -> None:
    """Declare torchvision's op schemas unless its extension loads. Once per process:
    the start-up hook, triggered by the ``find_spec`` below, calls it again re-entrantly."""
    global _LIBRARY, _STARTED
    if _STARTED or "torchvision" in sys.modules:
        return
    _STARTED = True
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return
    import torch

    extensions = glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so"))
    if not extensions:
        return
    try:
        torch.ops.load_library(extensions[0])
        return
    except OSError:
        pass
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBRARY = lib


HOOK_MODULE = "radgazegen_startup"


def install_startup_hook(site_dir: str | os.PathLike | None = None) -> Path:
    """Write ``radgazegen_startup.py`` and its ``.pth`` into ``site_dir``; return the ``.pth``.

    ``site_dir`` defaults to this interpreter's site-packages (purelib). Each file is written
    to a temporary file and renamed, so re-running is safe and never leaves a partial file;
    the module is byte-compiled too, so that interpreter start-up does not compile it.
    """
    site = Path(site_dir or sysconfig.get_paths()["purelib"])
    source = (Path(__file__).with_name("_startup.py")).read_text()
    pth_line = f"import {HOOK_MODULE}; {HOOK_MODULE}.install()\n"
    for name, text in ((f"{HOOK_MODULE}.py", source), (f"{HOOK_MODULE}.pth", pth_line)):
        fd, tmp = tempfile.mkstemp(dir=site, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, site / name)
        if name.endswith(".py"):  # before the .pth exists, like the module itself
            py_compile.compile(str(site / name), doraise=True)
    return site / f"{HOOK_MODULE}.pth"
