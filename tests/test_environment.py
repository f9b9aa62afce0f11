"""The environment the study runs in: pinned torch/torchvision, the offline stack imports."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import radgazegen  # noqa: F401  (declares torchvision's op schemas on the CPU build first)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["cpu.txt", "gpu.txt"])
def test_torch_and_torchvision_are_pinned_together(name):
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "constraints" / name).read_text(), re.M))
    assert "torch" in pins and "torchvision" in pins


def test_stack_imports_offline():
    import diffusers  # noqa: F401
    import torchvision
    import torchxrayvision as xrv

    assert hasattr(xrv.datasets, "MIMIC_Dataset")
    assert torchvision.models.densenet121(weights=None) is not None
