"""The three settings registries (engine, worker, portal) share a `DLGRADE_*` name only where
both sides mean the same thing, with the same default. A new shared name must be listed in
SHARED_ON_PURPOSE with why the two sides agree."""

from __future__ import annotations

import dataclasses

from autograder import config as engine_config
from autograder.worker import settings as worker_settings
from web.config import Settings as PortalSettings

# environment name -> what both sides mean by it
SHARED_ON_PURPOSE = {
    "DLGRADE_BROKER_URL": "the Redis broker the portal enqueues on and the workers consume from",
    "DLGRADE_QUEUE_PREFIX": "the prefix of every queue name, added by the portal and the workers alike",
    "DLGRADE_STUCK_AFTER_S": "work queued or running without news this long is re-enqueued by the sweeper",
}


def registries() -> dict[str, dict[str, object]]:
    """Every registry as {environment variable: default}."""
    return {
        "engine (autograder/config.py)": {f"DLGRADE_{name.upper()}": setting.default
                                          for name, setting in engine_config.SETTINGS.items()},
        "worker (autograder/worker/settings.py)": {f"DLGRADE_{name.upper()}": declared[0]
                                                   for name, declared in worker_settings.DECLARED.items()},
        "portal (web/config.py)": {f"DLGRADE_{field.name}": field.default
                                   for field in dataclasses.fields(PortalSettings)},
    }


def shared_names(found: dict[str, dict[str, object]]) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for registry, names in found.items():
        for name in names:
            owners.setdefault(name, []).append(registry)
    return {name: where for name, where in owners.items() if len(where) > 1}


def test_every_registry_loads_and_declares_something():
    found = registries()
    assert all(found.values()), {registry: len(names) for registry, names in found.items()}


def test_a_shared_name_means_the_same_thing_with_the_same_default():
    found = registries()
    for name, where in shared_names(found).items():
        assert name in SHARED_ON_PURPOSE, (
            f"{name} is declared by {where} with defaults {[found[r][name] for r in where]}: give each side its "
            "own name, or make one registry own it; if both truly mean the same, list it in SHARED_ON_PURPOSE")
        defaults = {registry: found[registry][name] for registry in where}
        assert len(set(map(repr, defaults.values()))) == 1, f"{name} has different defaults: {defaults}"


def test_the_check_catches_a_name_shared_by_accident(monkeypatch):
    monkeypatch.setitem(worker_settings.DECLARED, "cache_dir", ("/tmp/bundles", str, "bundle cache"))
    assert "DLGRADE_CACHE_DIR" in shared_names(registries())
