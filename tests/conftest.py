"""Fixtures shared by the platform's own tests."""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "tests" / "example_assignment"


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
