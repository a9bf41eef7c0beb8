"""Fixtures shared by the platform's own tests."""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "tests" / "example_assignment"

# `make test` runs the suite on both cores (`-n 2 --dist loadgroup`). Every other shared resource
# is per test (a Redis server, a PostgreSQL schema, a port, a temporary folder), but not the Docker
# daemon: a test that starts sandbox containers, or checks that none outlived its grading
# (`docker ps --filter label=...`, the red team's `healthy_worker`), would see the other worker's.
# The tests of these files run on one worker, one after another.
DOCKER_DAEMON_FILES = ("tests/redteam/test_attacks.py", "tests/sandbox/test_docker_sandbox.py",
                       "tests/engine/test_lanes.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        uses_daemon = item.get_closest_marker("docker") or "healthy_worker" in getattr(item, "fixturenames", ())
        if uses_daemon and item.nodeid.split("::")[0] not in DOCKER_DAEMON_FILES:
            raise pytest.UsageError(f"{item.nodeid} uses the Docker daemon. Fix: add its file to DOCKER_DAEMON_FILES "
                                    f"in tests/conftest.py, so that make test runs it beside no other such test")


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` with the Docker daemon's tests as one group. xdist 3.8 groups by
    appending `@group` to the test ids on the workers, which pytest 9.2's structured ids ignore
    (pytest-dev/pytest-xdist#1386), so the group is named here, where the scheduler reads the ids."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class DockerDaemonGroup(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "docker-daemon" if nodeid.split("::")[0] in DOCKER_DAEMON_FILES else super()._split_scope(nodeid)

    return DockerDaemonGroup(config, log)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory, request):
    """Trusted-run cache of this test session only, shared by its xdist workers (trusted runs
    are written to a private folder and renamed into place, so concurrent writers are safe)."""
    if not hasattr(request.config, "workerinput"):  # not an xdist worker
        cache = tmp_path_factory.mktemp("dlgrade-cache")
    else:
        cache = tmp_path_factory.getbasetemp().parent / "dlgrade-cache"
        cache.mkdir(exist_ok=True)
    previous = os.environ.get("DLGRADE_CACHE_DIR")
    os.environ["DLGRADE_CACHE_DIR"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("DLGRADE_CACHE_DIR", None)
    else:
        os.environ["DLGRADE_CACHE_DIR"] = previous


@pytest.fixture
def example_package(tmp_path) -> Path:
    """A private copy of the example assignment, free to edit."""
    target = tmp_path / "example"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target
