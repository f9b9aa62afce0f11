"""The environment the study runs in: pinned torch/torchvision, the offline stack imports."""
from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import radgazegen  # noqa: F401  (declares torchvision's op schemas on the CPU build first)
from radgazegen import _compat

REPO = Path(__file__).resolve().parents[1]
PURELIB = sysconfig.get_paths()["purelib"]
HOOK_PTH = Path(PURELIB, f"{_compat.HOOK_MODULE}.pth")
COLD_IMPORT = "import torchxrayvision, diffusers; from diffusers import ControlNetModel"
needs_hook = pytest.mark.skipif(not HOOK_PTH.exists(), reason=f"no start-up hook in {PURELIB}")


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def _bare_env_python(code: str, hook_dir: Path | None) -> subprocess.CompletedProcess:
    """Run ``code`` with this env's packages but none of its ``.pth`` files (``-S``), and the
    hook only if ``hook_dir`` holds one: so the hook installed there is what is tested."""
    prelude = "import site, sys\n"
    if hook_dir is not None:
        prelude += f"site.addsitedir({str(hook_dir)!r})\n"
    prelude += f"sys.path += [{PURELIB!r}, {str(REPO)!r}]\n"
    return _python("-I", "-S", "-c", prelude + code)


@pytest.mark.parametrize("name", ["cpu.txt", "gpu.txt", "offline.txt"])
def test_torch_and_torchvision_are_pinned_together(name):
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "constraints" / name).read_text(), re.M))
    torch_v, vision_v = pins["torch"].split("."), pins["torchvision"].split(".")
    # PyTorch's compatibility table: torch 2.N ships with torchvision 0.(N + 15), same patch release
    assert torch_v[0] == "2" and vision_v[0] == "0" and int(vision_v[1]) == int(torch_v[1]) + 15, (name, pins["torch"], pins["torchvision"])
    assert torch_v[2:] == vision_v[2:], (name, pins["torch"], pins["torchvision"])


def test_stack_imports_offline():
    import diffusers  # noqa: F401
    import torchvision
    import torchxrayvision as xrv

    assert hasattr(xrv.datasets, "MIMIC_Dataset")
    assert torchvision.models.densenet121(weights=None) is not None


def test_make_setup_installed_the_current_hook():
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        pytest.skip("not the .venv that `make setup` creates")
    assert HOOK_PTH.exists(), "run: python -m radgazegen._startup --install-hook"
    installed = HOOK_PTH.with_suffix(".py").read_text()
    assert installed == (REPO / "radgazegen" / "_startup.py").read_text(), "stale hook: re-install it"


@needs_hook
@pytest.mark.slow  # a fresh interpreter
def test_cold_import_in_a_fresh_interpreter():
    """The env's Python imports the stack without importing radgazegen first."""
    result = _python("-c", COLD_IMPORT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stderr


@needs_hook
def test_hook_does_not_import_torch_at_start():
    result = _python("-c", "import sys; print('torch' in sys.modules, 'radgazegen' in sys.modules)")
    assert result.stdout.split() == ["False", "False"], result.stderr


@pytest.mark.slow  # fresh interpreters
def test_the_hook_is_what_makes_torchvision_importable(tmp_path):
    pth = _compat.install_startup_hook(tmp_path)
    assert _compat.install_startup_hook(tmp_path) == pth  # idempotent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["__pycache__", pth.name, pth.stem + ".py"]

    check = "print('torch' in sys.modules); import torchvision; print(torchvision.__name__)"
    hooked = _bare_env_python(check, tmp_path)
    assert hooked.stdout.split() == ["False", "torchvision"], hooked.stderr
    package_first = _bare_env_python("import radgazegen, torchvision", tmp_path)  # re-entrant call
    assert package_first.returncode == 0, package_first.stderr
    if _compat._LIBRARY is None:  # the extension loaded natively: nothing for the hook to fix
        return
    bare = _bare_env_python("import torchvision", None)
    assert bare.returncode != 0 and "torchvision::nms does not exist" in bare.stderr, bare.stderr


def test_diffusers_empty_float32_warning_is_kept_out_of_the_chapters():
    """The teach chapters (bf16 on a GPU) showed dozens of "should be kept in float32: []" blocks."""
    import logging

    import radgazegen  # noqa: F401  (installs the filter)

    logger = logging.getLogger("diffusers.models.modeling_utils")
    record = lambda msg: logging.LogRecord(logger.name, logging.WARNING, __file__, 1, msg, None, None)  # noqa: E731
    assert not logger.filter(record("There are modules in UNet2DConditionModel that should be kept in float32: []. x"))
    assert logger.filter(record("There are modules in X that should be kept in float32: ['norm']. x"))
