"""Start-up hook: make ``import torchvision`` work in any interpreter of the environment.

``radgazegen._compat`` declares torchvision's op schemas so that torchvision imports on
the CPU build of torch, but only once radgazegen has been imported. ``make setup`` copies
this file into the environment's site-packages as ``radgazegen_startup.py``, with a
``radgazegen_startup.pth`` that imports it at interpreter start. It only puts a finder on
``sys.meta_path`` (standard library only: start-up stays fast and does not import torch);
the first time torchvision is looked up, the finder runs
``ensure_torchvision_importable()`` once, removes itself and lets the normal import go on.
A no-op where the torchvision extension loads (the GPU constraints) or radgazegen is gone.

Install (or re-install) the hook:  ``python -m radgazegen._startup --install-hook``
(not ``-m radgazegen._compat``: the package imports that module, and runpy would warn).
"""
import sys


class TorchvisionHook:
    """Meta-path finder that prepares torchvision's import once, then steps aside."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "torchvision":
            return None
        try:  # remove first: the work below looks torchvision up again
            sys.meta_path.remove(cls)
        except ValueError:
            pass
        try:
            from radgazegen._compat import ensure_torchvision_importable
        except ImportError:  # radgazegen no longer installed: nothing to do
            return None
        ensure_torchvision_importable()
        return None  # the other finders import torchvision itself


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once, however often this is called)."""
    if not any(getattr(f, "__name__", None) == TorchvisionHook.__name__ for f in sys.meta_path):
        sys.meta_path.insert(0, TorchvisionHook)


if __name__ == "__main__":
    if sys.argv[1:] != ["--install-hook"]:
        sys.exit("usage: python -m radgazegen._startup --install-hook")
    from radgazegen._compat import install_startup_hook

    print(install_startup_hook())
