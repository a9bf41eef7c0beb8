"""Grader bundles cached on disk by digest, verified before use.

`<cache_dir>/<digest>.tar.gz` is the bundle as downloaded (its sha256 checked against the
digest it is named by), `<cache_dir>/<digest>/` the assignment folder unpacked from it. Both
appear atomically (written under a temporary name, then renamed) and under a per-digest file
lock, so the pool processes of a worker, or several workers sharing the folder, download and
unpack a bundle once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from autograder.worker.portal import PortalClient


class BundleMismatch(Exception):
    """The bytes the portal sent do not hash to the digest they were asked for."""


def normalize_digest(digest: str) -> str:
    digest = digest.strip().lower()
    if digest.startswith("sha256:"):
        digest = digest[len("sha256:"):]
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise BundleMismatch(f"bundle digest {digest!r} is not a sha256 hex digest")
    return digest


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class BundleCache:
    def __init__(self, cache_dir: Path, portal: PortalClient,
                 unpack: Callable[[Path, Path], Path]):
        self.cache_dir = Path(cache_dir)
        self.portal = portal
        self.unpack = unpack

    def archive(self, digest: str) -> Path:
        """The verified bundle archive, downloaded on first use."""
        digest = normalize_digest(digest)
        path = self.cache_dir / f"{digest}.tar.gz"
        with _locked(self.cache_dir / f".{digest}.lock"):
            if path.exists():
                return path
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".dl-")
            os.close(fd)
            try:
                got = self.portal.download(f"/api/worker/bundles/{digest}", Path(tmp))
                if got != digest:
                    raise BundleMismatch(
                        f"bundle {digest[:12]} from the portal hashes to {got[:12]}; "
                        "the portal's bundle store is corrupt or the digest is stale"
                    )
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return path

    def assignment_dir(self, digest: str) -> Path:
        """The unpacked assignment folder of bundle `digest` (what the engine grades with)."""
        digest = normalize_digest(digest)
        done = self.cache_dir / digest
        marker = done / ".dlgrade-unpacked"
        if marker.exists():
            return Path(marker.read_text())
        archive = self.archive(digest)
        with _locked(self.cache_dir / f".{digest}.lock"):
            if marker.exists():
                return Path(marker.read_text())
            if sha256_file(archive) != digest:  # a cached archive changed on disk
                archive.unlink()
                raise BundleMismatch(f"cached bundle {digest[:12]} was corrupt; fetched again next time")
            tmp = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=".unpack-"))
            tmp.chmod(0o755)  # mkdtemp's 0700 hides the tests from a sandbox that runs as nobody
            try:
                inner = Path(self.unpack(archive, tmp / "a"))
                rel = inner.relative_to(tmp)
                if done.exists():
                    shutil.rmtree(done)
                os.replace(tmp, done)
                (done / ".dlgrade-unpacked").write_text(str(done / rel))
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            return Path(marker.read_text())
