"""A worker starting up removes what runs killed with an earlier worker left behind: sandbox
cgroups and scratch folders (autograder/sandbox/leftovers.py), per-job folders in
`run_dir/jobs`, and, with the Docker sandbox, leftover containers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from autograder import config
from autograder.sandbox.leftovers import remove_stale_cgroups, remove_stale_folders, remove_stale_scratch
from autograder.worker.claimed import JOB_FOLDER_PREFIX

log = logging.getLogger(__name__)


def remove_leftovers(settings: Mapping[str, Any]) -> dict[str, int]:
    removed = {
        "cgroups": remove_stale_cgroups(),
        "scratch folders": remove_stale_scratch(),
        "job folders": remove_stale_folders(Path(settings["run_dir"]) / "jobs", JOB_FOLDER_PREFIX),
    }
    if config.get("sandbox") == "docker":  # the engine owns the sandbox setting
        from autograder.sandbox.docker import remove_stale_containers

        removed["containers"] = remove_stale_containers()
    for what, count in removed.items():
        if count:
            log.warning("removed %d %s left by runs killed with an earlier worker", count, what)
    return removed
