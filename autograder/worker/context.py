"""The per-process things a job needs, built once from the settings."""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any, Callable, Mapping

from autograder.worker.bundles import BundleCache
from autograder.worker.portal import PortalClient
from autograder.worker.state import SharedState


def resolve(spec: str) -> Callable[..., Any]:
    """"package.module:function" → the function (engine entry points are settings)."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"{spec!r} is not module:function")
    return getattr(importlib.import_module(module), name)


class WorkerContext:
    def __init__(self, settings: Mapping[str, Any]):
        self.settings = settings
        self.portal = PortalClient(settings["portal_url"], settings["worker_token"],
                                   settings["worker_name"], settings["http_timeout_s"])
        self.state = SharedState(settings["broker_url"])
        self.run_dir = Path(settings["run_dir"])

    @functools.cached_property
    def bundles(self) -> BundleCache:
        return BundleCache(Path(self.settings["cache_dir"]), self.portal,
                           lambda archive, dest: resolve(self.settings["unpack_function"])(archive, dest))

    def grade_function(self) -> Callable[..., Any]:
        return resolve(self.settings["grade_function"])

    def gate_function(self) -> Callable[..., Any]:
        return resolve(self.settings["gate_function"])

    @property
    def claim_ttl_s(self) -> int:
        return max(3, int(3 * self.settings["heartbeat_s"]))
