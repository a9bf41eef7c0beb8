"""What every sandbox backend takes and gives back.

A backend runs one command (the in-sandbox harness) with a few host folders made visible,
under limits, and reports what happened. It never interprets the harness's output: that is
the comparator's job, outside.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Mount:
    """A host path made visible inside the sandbox at `target`."""

    source: Path
    target: str
    writable: bool = False


@dataclasses.dataclass(frozen=True)
class Limits:
    wall_s: float  # killed from outside after this many seconds
    memory_mb: int  # address space (process) or cgroup memory (docker)
    cpus: float = 2.0
    pids: int = 512  # processes and threads
    open_files: int = 1024
    scratch_mb: int = 512  # size of the writable tmpfs / scratch
    output_mb: int = 64  # cap on what the run may leave in its output folder
    stdout_bytes: int = 1 << 20  # stdout/stderr beyond this is dropped


@dataclasses.dataclass(frozen=True)
class SandboxJob:
    """One run: `argv` executes inside with `cwd` as working directory.

    `mounts` lists everything the run may see besides the runtime itself; `output_target`
    is the in-sandbox path of the (writable, initially empty) output folder, whose host side
    is `output_dir`. `gpus` are the device indices this run may use.
    """

    argv: list[str]
    mounts: list[Mount]
    output_dir: Path
    output_target: str
    limits: Limits
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    cwd: str = "/scratch"
    gpus: tuple[int, ...] = ()
    image: str | None = None  # docker only
    # Set by the grader to stop the run early (a test hung past its limit); the backend kills
    # the run and reports it as timed out.
    cancel: threading.Event | None = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass
class SandboxOutcome:
    exit_code: int | None  # None when killed from outside
    timed_out: bool
    out_of_memory: bool
    wall_s: float
    stdout: str  # tail, capped
    stderr: str  # tail, capped
    output_dir: Path
    backend: str
    image: str | None = None  # docker: the image digest that ran
    notes: list[str] = dataclasses.field(default_factory=list)


class Sandbox:
    """The interface; see `process.ProcessSandbox` and `docker.DockerSandbox`."""

    name = "abstract"
    # True where the backend's runtime already holds this tree's harness (a grader image);
    # otherwise the engine mounts `autograder/` read-only at /grader/lib.
    harness_in_image = False

    def run(self, job: SandboxJob) -> SandboxOutcome:
        raise NotImplementedError

    def describe(self) -> dict:
        """Facts recorded in the result's run metadata (backend, isolation, image)."""
        return {"backend": self.name}

    def seen_at(self, mount: Mount) -> str:
        """The path at which the run sees `mount` (its target, where the backend mounts it)."""
        return mount.target


def folder_bytes(root: Path) -> int:
    """Bytes of the plain files under `root` (links are not followed): what a run wrote."""
    total = 0
    for path in Path(root).rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            pass
    return total
