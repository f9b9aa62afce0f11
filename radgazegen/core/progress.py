"""Progress bars: on the console and in the run's log, never in a rendered notebook.

``progress.tqdm`` is tqdm's plain (terminal) bar. When the runner executes a notebook it sets
``RADGAZEGEN_PROGRESS_LOG`` to ``runs/<profile>/logs/<step>.log``: every bar of the package
and of the notebook is then written there (the executed notebook, hence the book, gets none),
and the library bars that the Hugging Face libraries draw while loading and saving weights
are switched off (``TQDM_DISABLE`` and ``HF_HUB_DISABLE_PROGRESS_BARS``, set by the runner as
well: a bar that asks for ``disable`` explicitly is not affected, this module's are). Elsewhere (a
console, a test) the bars go to stderr as usual.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from tqdm.std import tqdm as _tqdm

#: Environment variable with the file that progress bars write to (set by the runner).
LOG_VARIABLE = "RADGAZEGEN_PROGRESS_LOG"


class tqdm(_tqdm):  # noqa: N801 - tqdm's own name, so call sites read as tqdm
    """``tqdm.std.tqdm`` writing to the run's log file when ``LOG_VARIABLE`` is set (module docstring)."""

    def __init__(self, *args, **kwargs):
        log = os.environ.get(LOG_VARIABLE)
        self._log_file = None
        if log and "file" not in kwargs and kwargs.get("disable") is not True:
            kwargs["disable"] = False  # explicit: the runner's TQDM_DISABLE is for the libraries' bars
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(log, "a", encoding="utf-8")
            kwargs.update(file=self._log_file, mininterval=max(kwargs.get("mininterval", 0.1), 2.0), ascii=True)
        super().__init__(*args, **kwargs)

    def close(self):
        super().close()
        if getattr(self, "_log_file", None) is not None:
            self._log_file.write("\n")
            self._log_file.close()
            self._log_file = None


def machine_line(repo: Path) -> str:
    """One line describing where a run executes, for its ``progress.log`` and the book's run
    record: the study's commit (``+changes`` when the working tree differs from it; "unknown"
    outside a git checkout), Python, the key packages' versions, the CPU and the GPU(s).
    Reads metadata only: nothing is imported or initialised."""
    import platform
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=repo).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = out("git", "rev-parse", "--short", "HEAD") or "unknown"
    if commit != "unknown" and out("git", "status", "--porcelain", "--untracked-files=no"):
        commit += "+changes"
    packages = []
    for name in ("torch", "diffusers", "transformers", "accelerate"):
        try:
            packages.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            packages.append(f"{name} absent")
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")),
               platform.processor() or "unknown CPU")
    gpus = out("nvidia-smi", "--query-gpu=name", "--format=csv,noheader").replace("\n", ", ") or "none"
    return (f"machine: commit {commit}; Python {platform.python_version()}; {', '.join(packages)}; "
            f"CPU {cpu} x {os.cpu_count()}{vector_units(info)}; GPU {gpus}")


def vector_units(cpuinfo_lines: list[str]) -> str:
    """" (AVX-512)", " (AVX2)" or " (no AVX2)" from ``/proc/cpuinfo``'s flags, "" where it has
    none: the kernels torch's CPU build picks, and so the last digits of a run's numbers (the
    committed lesson runs of dbaeb28, without AVX-512, and 72ef157, with it, differ there)."""
    flags = next((set(ln.split(":", 1)[1].split()) for ln in cpuinfo_lines if ln.startswith("flags")), None)
    if flags is None:
        return ""
    return " (AVX-512)" if "avx512f" in flags else " (AVX2)" if "avx2" in flags else " (no AVX2)"


class stderr_to:  # noqa: N801 - used as a context manager, like contextlib's redirect_stderr
    """Point this process's file descriptor 2 at ``path`` (appended) for the ``with`` block, so
    that what child processes started inside it write there too (a notebook kernel's start-up
    warnings, or its traceback when a Ctrl-C reaches it): the console keeps the runner's own
    lines. Restored on exit, whatever ends the block."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self):
        import sys

        sys.stderr.flush()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._saved = os.dup(2)
        with open(self.path, "a", encoding="utf-8") as fh:
            os.dup2(fh.fileno(), 2)
        return self

    def __exit__(self, *exc):
        import sys

        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        return False


def log_line(text: str) -> None:
    """A line for the run's log, not the chapter's output: appended to the chapter's log
    (``LOG_VARIABLE``) under the runner, printed elsewhere. For figures that change from run
    to run (a benchmark's steps/s), which must not make two runs' chapters differ."""
    log = os.environ.get(LOG_VARIABLE)
    if not log:
        print(text, flush=True)
        return
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(text.rstrip("\n") + "\n")


class ProgressLog:
    """The runner's console lines, also appended (UTC-stamped, per line) to ``progress.log``, which
    another command can read during or after a run (per-chapter times of a run on a remote GPU)."""

    def __init__(self, path: Path, echo, header: str):
        self.path, self.echo = path, echo
        self.write(header)  # the book's run record: where the chapters below it ran (``machine_line``)

    def __call__(self, line: str) -> None:
        self.echo(line)
        self.write(line)

    def write(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
