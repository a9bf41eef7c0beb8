"""GPU ownership on one host: which GPUs there are, and one job per GPU at a time.

The deployment shape (docs/gpu-workers.md): one worker per host owns every GPU it lists
(`DLGRADE_GPUS`, or `auto`: each GPU `nvidia-smi -L` shows) and runs one pool process per
GPU. A job leases the GPUs it needs for its whole run: `<run_dir>/gpu-<index>.lock`, held
(flock, exclusive) by the job using that GPU, so perf tests always run alone on their GPU.
The kernel drops the lock when the holder dies, SIGKILL included, so a crashed job never
strands a GPU. Every pool process of a worker, and every worker on the host that shares
`run_dir`, respects the same locks.

A job that needs several GPUs (an allreduce) gathers them: under `<run_dir>/gather.lock` it
keeps each GPU it gets while waiting for the rest, and while a gather is on, single-GPU jobs
leave freed GPUs to it. Without that, a stream of single-GPU jobs would take every GPU the
moment it frees and a two-GPU job would wait for ever. One gather at a time, so two
multi-GPU jobs never hold half of what each needs.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

GATHER_LOCK = "gather.lock"
_GPU_LINE = re.compile(r"^GPU (\d+): ")


class NoGpusFound(RuntimeError):
    pass


def discover_gpus(nvidia_smi: str = "nvidia-smi") -> tuple[int, ...]:
    """The indices of every GPU `nvidia-smi -L` lists ("GPU 0: NVIDIA H200 (UUID: ...)")."""
    exe = shutil.which(nvidia_smi)
    if exe is None:
        raise NoGpusFound("DLGRADE_GPUS=auto needs nvidia-smi on PATH; set the indices instead (e.g. 0,1)")
    try:
        listing = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise NoGpusFound(f"nvidia-smi -L failed: {exc}") from exc
    found = tuple(int(m.group(1)) for line in listing.splitlines() if (m := _GPU_LINE.match(line.strip())))
    if not found:
        raise NoGpusFound(f"nvidia-smi -L lists no GPU: {listing.strip()[:300]!r}")
    return found


def _try_lock(path: Path, mode: int = fcntl.LOCK_EX) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class GpuLease:
    def __init__(self, run_dir: Path, owned: tuple[int, ...]):
        self.run_dir = Path(run_dir)
        self.owned = tuple(owned)
        self.held: dict[int, int] = {}  # gpu index -> open fd holding its lock

    def _check(self, count: int) -> None:
        if count > len(self.owned):
            raise ValueError(f"job needs {count} GPUs; this worker owns {len(self.owned)}")
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def _take_free(self, count: int) -> None:
        """Lock free GPUs, lowest index first, until `count` are held."""
        for gpu in self.owned:
            if len(self.held) >= count:
                return
            if gpu in self.held:
                continue
            fd = _try_lock(self.run_dir / f"gpu-{gpu}.lock")
            if fd is not None:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.held[gpu] = fd

    def gather_pending(self) -> bool:
        """Whether a multi-GPU job on this host is gathering GPUs now."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = _try_lock(self.run_dir / GATHER_LOCK, fcntl.LOCK_SH)
        if fd is None:
            return True
        _unlock(fd)
        return False

    def try_acquire(self, count: int) -> tuple[int, ...] | None:
        """Lock `count` free GPUs now, or none (returns None)."""
        if count == 0:
            return ()
        self._check(count)
        self._take_free(count)
        if len(self.held) == count:
            return tuple(sorted(self.held))
        self.release()
        return None

    def acquire(self, count: int, wait_s: float, poll_s: float = 0.5,
                on_wait: Callable[[], None] | None = None) -> tuple[int, ...] | None:
        """Lock `count` GPUs, waiting up to `wait_s`; None if they did not free up. `on_wait` is
        called between polls (the caller keeps its claim alive there)."""
        if count > 1:
            return self._gather(count, wait_s, poll_s, on_wait)
        deadline = time.monotonic() + wait_s
        while True:
            got = None if count and self.gather_pending() else self.try_acquire(count)
            if got is not None:
                return got
            if time.monotonic() >= deadline:
                return None
            if on_wait:
                on_wait()
            time.sleep(poll_s)

    def _gather(self, count: int, wait_s: float, poll_s: float,
                on_wait: Callable[[], None] | None) -> tuple[int, ...] | None:
        self._check(count)
        deadline = time.monotonic() + wait_s
        gather_fd = None
        try:
            while True:
                if gather_fd is None:
                    gather_fd = _try_lock(self.run_dir / GATHER_LOCK)
                if gather_fd is not None:
                    self._take_free(count)
                    if len(self.held) == count:
                        return tuple(sorted(self.held))
                if time.monotonic() >= deadline:
                    self.release()
                    return None
                if on_wait:
                    on_wait()
                time.sleep(poll_s)
        finally:
            if gather_fd is not None:
                _unlock(gather_fd)

    def release(self) -> None:
        for fd in self.held.values():
            _unlock(fd)
        self.held.clear()

    def __enter__(self) -> "GpuLease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
