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
