"""One runner per run directory.

``RunLock(run_dir)`` holds an OS file lock (``fcntl.flock``, exclusive) on
``<run_dir>/.runner.lock`` for the whole run. The operating system releases it when the
process ends however it ends (SIGKILL included), so a killed runner leaves no stale lock;
the file itself stays and says who held it last (pid, host, start time, UTC).

A second runner on the same run directory either refuses at once with one line naming the
holder (the default) or, with ``wait=True``, says so once and waits for the lock.
POSIX only (``fcntl``); on other systems the lock is a no-op with a warning.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path


class RunLocked(RuntimeError):
    """Another runner holds the run directory's lock (message names its pid and start time)."""


class RunLock:
    """Context manager: the exclusive lock of ``run_dir`` (module docstring)."""

    FILE = ".runner.lock"

    def __init__(self, run_dir: str | Path, wait: bool = False, log=print):
        self.path = Path(run_dir) / self.FILE
        self.wait, self.log = wait, log
        self._fh = None

    def holder(self) -> str:
        """Who holds (or last held) the lock, as the lock file says: 'pid N on HOST since T'."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            return f"pid {info['pid']} on {info['host']} since {info['started']}"
        except (OSError, ValueError, KeyError):
            return "another process (no details in the lock file)"

    def __enter__(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # not POSIX
            self.log(f"warning: no file locking here; nothing stops a second runner on {self.path.parent}")
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not self.wait:
                self._fh.close()
                self._fh = None
                raise RunLocked(f"{self.path.parent}: another runner is running this profile ({self.holder()}); "
                                "wait for it, stop it, or run with --wait") from None
            self.log(f"waiting for the runner that holds {self.path.parent} ({self.holder()}) ...")
            fcntl.flock(self._fh, fcntl.LOCK_EX)
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                   "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
        self._fh.flush()
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            import fcntl

            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
