"""One run, one writer: a lock on the run directory while it trains.

Two ``ganforge train --resume`` on the same run would both train and both append every tick to
``stats.jsonl``, each overwriting the other's checkpoints. While a run trains, its process holds an
exclusive ``flock`` on ``run_dir/run.lock`` (the file names the holder: pid, host, start time); a second
process is refused with one message naming the holder. The operating system releases the lock when
its process ends in any way (a crash or SIGKILL included), so a ``run.lock`` left behind by a killed
process is stale and simply taken over; nothing has to be cleaned by hand.

Where the file system has no locks (some network mounts say ENOLCK / EOPNOTSUPP), the file's pid is
asked instead: a live process of that pid on this host holds the run, anything else is stale.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

from ganforge.errors import GanforgeError

LOCK_NAME = "run.lock"


def _holder(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            info = json.loads(f.read(4096).decode("utf-8", "replace") or "{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(info: dict) -> str:
    pid, host, since = info.get("pid"), info.get("host"), info.get("started")
    parts = [f"pid {pid}" if pid else "another process"]
    if host:
        parts.append(f"on {host}")
    if isinstance(since, (int, float)):
        parts.append(f"since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))}")
    return " ".join(parts)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """``with RunLock(run_dir): train``; or ``acquire()`` / ``release()``."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def _refuse(self, info: dict) -> GanforgeError:
        return GanforgeError(f"run {str(self.run_dir)!r} is being trained by {_describe(info)} ({self.path}); two "
                             f"processes on one run would both append every tick and overwrite each other's "
                             f"checkpoints: wait for it to end or stop it, or train a new run")

    def acquire(self) -> "RunLock":
        from ganforge.errors import output_error

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise output_error(self.path, e, "create") from None
        try:
            try:
                import fcntl
            except ImportError:  # not POSIX: no flock
                raise OSError(errno.ENOSYS, "no flock") from None
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._refuse(_holder(self.path)) from None
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS):
                os.close(fd)
                raise output_error(self.path, e, "lock") from None
            info = _holder(self.path)  # no locks here: trust a live pid of this host
            if info.get("host") == socket.gethostname() and info.get("pid") != os.getpid() and _alive(info.get("pid")):
                os.close(fd)
                raise self._refuse(info) from None
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
        except OSError:
            pass  # the lock holds without its description (a full disk); the message then says less
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)  # no stale description left for a reader
            except OSError:
                pass
            os.close(fd)  # releases the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
