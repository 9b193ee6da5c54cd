"""One grid run at a time per results folder: an advisory lock on ``<results_dir>/.nasxfer.lock``.

``fcntl.flock`` on a lock file: the kernel releases it when the holding process dies, however
it dies (SIGKILL, a node lost), so a crashed run never blocks the next one and no stale-lock
cleanup is needed. The holder writes its pid, host and start time into the file so that a
second run can say who holds it. The file itself is never deleted (deleting a lock file races
with a process opening it).

On a Ray cluster the lock is taken by the driver, the only process that writes the results
folder (workers sample and learn; the driver saves weights and parts). On a shared network
file system Linux implements ``flock`` with NFS byte-range locks, so drivers on two machines
exclude each other too.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .errors import NasxferError
from .io import makedirs, os_error

LOCK_NAME = ".nasxfer.lock"


class RunLock:
    """``with RunLock(results_dir):`` holds the folder for this process; a second holder is refused at once."""

    def __init__(self, results_dir):
        self.results_dir = Path(results_dir)
        self.path = self.results_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        makedirs(self.results_dir)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise os_error(e, self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read(fd))
            os.close(fd)
            raise NasxferError(
                f"{self.results_dir} is in use by another grid run ({holder}): wait for it to finish, stop it, "
                f"or write to another folder (a new run_name or --results-dir)"
            ) from None
        except OSError as e:
            os.close(fd)
            raise os_error(e, self.path) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "started_unix": time.time(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            os.fsync(fd)
        except OSError as e:
            os.close(fd)
            raise os_error(e, self.path) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)  # a reader then knows nobody holds it
            except OSError:
                pass
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holder(results_dir) -> dict | None:
    """What the lock file says about its holder (pid, host, started), or None if it names nobody."""
    try:
        return json.loads((Path(results_dir) / LOCK_NAME).read_text() or "null")
    except (OSError, ValueError):
        return None


def _read(fd: int) -> dict | None:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except (OSError, ValueError):
        return None


def _describe(info: dict | None) -> str:
    if not info:
        return "a process that has not yet written its pid"
    return f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started')}"
