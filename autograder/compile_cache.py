"""Triton's compile cache for trusted runs on a GPU, kept by the worker between gradings.

A cold trusted run of triton_kernels on an H200 spends most of its time compiling the
reference's kernels (PERF.md: 122 s cold, 19 s with every kernel cached). Triton keys each
entry by the kernel's source, its specialisation, the compile options, the target GPU and
Triton's own version, so one folder serves every bundle, seed and GPU model of a worker.

The folder holds compiled reference code (TTIR, PTX, cubins), so it never reaches a student:
only trusted runs get it, as a copy in the grading's scratch folder that their sandbox may
write; entries it did not have before are copied back afterwards and the copy is deleted
before the student run starts. A student run gets a cache of its own (`student_folder`): the
student's kernels, compiled by one of the grading's student runs and reused by its others (the
lanes, the perf run, the re-measure), deleted with the grading's scratch folder; it never
holds a trusted run's entries. This hides the trusted cache from a student only where
the sandbox hides the host's files: bubblewrap or Docker. The process sandbox without
bubblewrap (a GPU host without it) runs trusted and student runs as the same user, nobody,
who must read the bundle's hidden tests and reference anyway.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from autograder import config

TARGET = "/grader/compile-cache"  # where a trusted run sees its copy (TRITON_CACHE_DIR)
STUDENT_TARGET = "/grader/student-compile-cache"  # where a student run sees the grading's own


def kept_folder() -> Path:
    return Path(config.get("cache_dir")) / "compile-cache" / "trusted"


def checkout(into: Path, *, seen_at: str) -> Path:
    """A writable copy of the kept cache at `into` (any sandbox user may write it), which the
    run sees at `seen_at`. Triton's group files (`__grp__*`) list their kernel's files by
    absolute path and count a missing one as a miss: they are pointed at `seen_at`."""
    kept = kept_folder()
    if kept.is_dir():
        shutil.copytree(kept, into, ignore=shutil.ignore_patterns("*.tmp.*"))
    else:
        into.mkdir(parents=True)
    for group in into.glob("*/__grp__*"):
        try:
            children = json.loads(group.read_text())["child_paths"]
            moved = {name: f"{seen_at}/{group.parent.name}/{Path(path).name}" for name, path in children.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            shutil.rmtree(group.parent)  # unreadable: compiled again
            continue
        group.write_text(json.dumps({"child_paths": moved}))
    for folder, subfolders, files in os.walk(into):
        os.chmod(folder, 0o777)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o666)
    return into


def student_folder(work: Path) -> Path:
    """The compile cache the student runs of one grading share, in its scratch folder `work`.
    Triton writes each entry beside its final name and renames it, so concurrent lanes may
    share it; its group files name kernels by the path the runs see, the same for every run."""
    folder = work / "student-compile-cache"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o777)  # the process sandbox's runs drop to nobody
    return folder


def keep(used: Path) -> int:
    """Copy the entries `used` gained into the kept cache; returns how many. Each entry lands
    whole or not at all (copied beside, then renamed), so concurrent gradings may share it."""
    kept = kept_folder()
    kept.mkdir(parents=True, exist_ok=True)
    added = 0
    for entry in sorted(used.iterdir()) if used.is_dir() else []:
        if not entry.is_dir() or entry.is_symlink() or (kept / entry.name).exists():
            continue
        # A kernel's entry is finished once Triton wrote its group file (last); an entry of one
        # file (a compiled launcher stub, no metadata .json) is written in one atomic step.
        if not any(entry.glob("__grp__*")) and any(entry.glob("*.json")):
            continue
        staging = kept / f"{entry.name}.tmp.{uuid.uuid4().hex}"
        shutil.copytree(entry, staging, symlinks=True)
        try:
            staging.rename(kept / entry.name)
            added += 1
        except OSError:  # another grading kept the same entry first
            shutil.rmtree(staging, ignore_errors=True)
    return added
