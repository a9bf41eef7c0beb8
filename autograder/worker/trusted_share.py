"""Trusted runs shared by every worker of a deployment, through the portal (CONTRACT.md).

The engine (autograder/trusted_run.py) asks for a trusted run by its key (bundle, seed,
hardware, harness) before running the reference, and publishes the archive of each reference
run it made. Here that is `GET /api/worker/trusted-runs/<key>` (the digest the archive was
stored under), `GET .../<key>/archive` (the bytes, checked against that digest) and
`PUT .../<key>/<digest>` (signed, like every worker body). The portal keeps the first archive
published per key. Every failure answers "none" and the engine runs the reference itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from autograder.worker.bundles import BundleMismatch, normalize_digest
from autograder.worker.portal import PortalClient, PortalRefused, PortalUnavailable

log = logging.getLogger(__name__)

PATH = "/api/worker/trusted-runs"


class PortalTrustedRuns:
    """A `trusted_run.TrustedRunShare` backed by the portal's worker API."""

    def __init__(self, portal: PortalClient, scratch_dir: Path):
        self.portal = portal
        self.scratch_dir = Path(scratch_dir)

    def fetch(self, key: str) -> bytes | None:
        try:
            meta = self.portal.get_json(f"{PATH}/{_key(key)}")
            digest = normalize_digest(str(meta.get("digest", "")))
            self.scratch_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.scratch_dir, prefix=".trusted-")
            os.close(fd)
            try:
                got = self.portal.download(f"{PATH}/{key}/archive", Path(tmp))
                data = Path(tmp).read_bytes()
            finally:
                os.unlink(tmp)
        except PortalRefused as exc:
            if exc.status != 404:
                log.warning("portal refused trusted run %s: %s", key[:12], exc)
            return None
        except (PortalUnavailable, BundleMismatch, OSError, ValueError, AttributeError) as exc:
            log.warning("shared trusted run %s not fetched: %s", key[:12], exc)
            return None
        if got != digest:
            log.warning("shared trusted run %s hashes to %s, the portal recorded %s: not used",
                        key[:12], got[:12], digest[:12])
            return None
        return data

    def publish(self, key: str, archive: bytes) -> None:
        digest = hashlib.sha256(archive).hexdigest()
        try:
            answer = self.portal.put_bytes(f"{PATH}/{_key(key)}/{digest}", archive, "application/gzip",
                                           params={"worker": self.portal.worker_name})
        except (PortalUnavailable, PortalRefused, ValueError) as exc:
            log.warning("trusted run %s not published: %s", key[:12], exc)
            return
        if not answer.get("stored"):
            log.info("trusted run %s: the portal keeps the one published first", key[:12])


def _key(key: str) -> str:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"trusted-run key {key!r} is not a sha256 hex digest")
    return key
