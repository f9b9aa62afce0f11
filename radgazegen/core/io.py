"""Atomic writes: an artifact is either complete on disk or absent, never half written.

Every file the study writes goes through these helpers: the bytes go to a temporary file
in the destination folder, which is then renamed over the destination (``os.replace`` is
atomic on POSIX). An interrupted run leaves the previous version of the file intact.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    Use for writers that want a file name (``cv2.imwrite``, ``DataFrame.to_csv``, ...)::

        with atomic_path(out / "split.csv") as tmp:
            frame.to_csv(tmp, index=False)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix + ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON atomically (stable bytes for equal objects)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_state(folder: str | os.PathLike, module, config: dict, weights: str = "model.safetensors") -> Path:
    """A model as ``folder/<weights>`` (safetensors, nothing pickled) plus ``folder/config.json``,
    each written atomically. Returns the folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    with atomic_path(folder / weights) as tmp:
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(tmp))
    write_json(folder / "config.json", config)
    return folder


def load_state(folder: str | os.PathLike, what: str, weights: str = "model.safetensors") -> tuple[dict, dict]:
    """``(config, state_dict)`` written by ``save_state``; a missing file raises naming it and ``what``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for f in ("config.json", weights):
        if not (folder / f).is_file():
            raise FileNotFoundError(f"{folder / f}: {what} file missing")
    return json.loads((folder / "config.json").read_text()), load_file(str(folder / weights))
