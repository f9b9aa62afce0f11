"""Make torchvision importable on the CPU-only torch build.

PyPI has no CPU build of torchvision: the 0.28.0 wheel pinned with the CPU build
of torch 2.13.0 (``constraints/cpu.txt``) ships a compiled extension linked against
CUDA, which cannot load there. torchvision's Python code still works, but its import
registers fake kernels for ``torchvision::nms`` / ``torchvision::qnms`` and fails
when those operator schemas are missing. We declare the two schemas first, so that
``import torchvision`` (and, through it, transformers, diffusers and torchxrayvision)
succeeds. Nothing in this study calls the detection ops.

On a torch/torchvision pair that loads normally (the GPU constraints) this is a no-op.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import sys

_LIBRARY = None  # keep the torch.library.Library alive for the process lifetime


def ensure_torchvision_importable() -> None:
    global _LIBRARY
    if "torchvision" in sys.modules or _LIBRARY is not None:
        return
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
