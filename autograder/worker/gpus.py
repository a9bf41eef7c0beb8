"""GPU ownership: one job per GPU at a time, through a file lock per GPU.

`<run_dir>/gpu-<index>.lock` is held (flock, exclusive) by the job using that GPU for the
whole job, so perf tests always run alone on their GPU. The kernel drops the lock when the
holder dies, SIGKILL included, so a crashed job never strands a GPU. Every pool process of a
worker, and every worker on the host that shares `run_dir`, respects the same locks.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class GpuLease:
    def __init__(self, run_dir: Path, owned: tuple[int, ...]):
        self.run_dir = Path(run_dir)
        self.owned = tuple(owned)
        self.held: dict[int, int] = {}  # gpu index -> open fd holding its lock

    def try_acquire(self, count: int) -> tuple[int, ...] | None:
        """Lock `count` free GPUs now, or none (returns None)."""
        if count == 0:
            return ()
        if count > len(self.owned):
            raise ValueError(f"job needs {count} GPUs; this worker owns {len(self.owned)}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for gpu in self.owned:
            if len(self.held) == count:
                break
            fd = os.open(self.run_dir / f"gpu-{gpu}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.held[gpu] = fd
        if len(self.held) == count:
            return tuple(sorted(self.held))
        self.release()
        return None

    def acquire(self, count: int, wait_s: float, poll_s: float = 0.5) -> tuple[int, ...] | None:
        """Lock `count` GPUs, waiting up to `wait_s`; None if they did not free up."""
        deadline = time.monotonic() + wait_s
        while True:
            got = self.try_acquire(count)
            if got is not None:
                return got
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll_s)

    def release(self) -> None:
        for fd in self.held.values():
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        self.held.clear()

    def __enter__(self) -> "GpuLease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

