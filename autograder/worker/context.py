"""The per-process things a job needs, built once from the settings and the engine."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping

from autograder.worker.bundles import BundleCache
from autograder.worker.engine import Engine
from autograder.worker.portal import PortalClient
from autograder.worker.state import SharedState
from autograder.worker.trusted_share import PortalTrustedRuns


class WorkerContext:
    def __init__(self, settings: Mapping[str, Any], engine: Engine):
        self.settings = settings
        self.engine = engine
        self.portal = PortalClient(settings["portal_url"], settings["worker_token"],
                                   settings["worker_name"], settings["http_timeout_s"])
        self.state = SharedState(settings["broker_url"])
        self.run_dir = Path(settings["run_dir"])

    @functools.cached_property
    def bundles(self) -> BundleCache:
        return BundleCache(Path(self.settings["bundle_cache_dir"]), self.portal, self.engine.unpack)

    @functools.cached_property
    def trusted_runs(self) -> PortalTrustedRuns | None:
        """Where this worker fetches and publishes trusted runs (None: its own cache only)."""
        if not self.settings["share_trusted_runs"]:
            return None
        return PortalTrustedRuns(self.portal, self.run_dir / "trusted")

    @property
    def claim_ttl_s(self) -> int:
        return max(3, int(3 * self.settings["heartbeat_s"]))
