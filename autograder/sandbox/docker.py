"""The Docker backend: one fresh container per run, locked down, killed from outside.

Isolation: no network, read-only root, size-capped tmpfs for /scratch, /tmp and /dev/shm,
cgroup memory without swap, a process limit, a CPU quota, user nobody, no capabilities, no
privilege gain, only the job's mounts (read-only unless marked writable) and only its GPUs.
The worker enforces the wall time (kill), caps the logs in the daemon (json-file, one file of
bounded size, so 10 GB on stdout never reaches the disk) and removes the container whatever
happened. The image digest that ran is recorded in the outcome.

The daemon is driven through the Docker SDK for Python (`docker` package).
`container_options` builds the keyword arguments of `containers.create` as a pure function,
so tests can check every isolation setting of a CPU or GPU job without a daemon or a GPU.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import requests
from docker.types import DeviceRequest, LogConfig, Ulimit
from docker.types import Mount as DockerMount

from autograder.sandbox.base import Sandbox, SandboxJob, SandboxOutcome

SANDBOX_USER = "65534:65534"  # nobody:nogroup
CONTAINER_LABEL = "org.dlgrade.sandbox"  # every sandbox container carries it (for sweeping)
DOCKER_CALL_TIMEOUT_S = 120  # a daemon call (create, inspect, logs, remove) that takes longer is stuck
POLL_S = 0.1  # how often the watchdog looks at the container and the output folder
MAX_OUTPUT_ENTRIES = 20_000  # files and folders in the output folder (empty files cost inodes)


def _bind(source: Path, target: str, writable: bool) -> DockerMount:
    return DockerMount(target=target, source=str(Path(source).resolve()), type="bind", read_only=not writable)


def container_options(job: SandboxJob, *, image: str, name: str) -> dict[str, Any]:
    """The keyword arguments of `client.containers.create` for `job` (pure: no daemon calls)."""
    limits = job.limits
    # Files the run writes (scratch, output) are bounded one by one; the total of the output
    # folder is watched from outside.
    file_size_bytes = max(limits.scratch_mb, limits.output_mb) * 1024 * 1024
    threads = max(1, math.ceil(limits.cpus))
    scratch_tmpfs = f"rw,nosuid,nodev,size={limits.scratch_mb}m,mode=1777"
    options: dict[str, Any] = {
        "image": image,
        "entrypoint": [job.argv[0]],
        "command": list(job.argv[1:]),
        "name": name,
        "labels": {CONTAINER_LABEL: "1"},
        "hostname": "sandbox",
        "network_mode": "none",
        "ipc_mode": "private",
        "read_only": True,
        "tmpfs": {"/scratch": scratch_tmpfs, "/tmp": scratch_tmpfs},
        "shm_size": f"{limits.scratch_mb}m",
        "mem_limit": f"{limits.memory_mb}m",
        "memswap_limit": f"{limits.memory_mb}m",  # equal to mem_limit: no swap at all
        "oom_score_adj": 1000,  # on host memory pressure, sandboxes die before the worker
        "pids_limit": limits.pids,
        "nano_cpus": int(round(limits.cpus * 1e9)),
        "ulimits": [Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
                    Ulimit(name="fsize", soft=file_size_bytes, hard=file_size_bytes),
                    Ulimit(name="core", soft=0, hard=0)],
        "user": SANDBOX_USER,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,  # a real PID 1 reaps orphans, so a fork bomb's zombies go away
        # The daemon keeps one log file of bounded size: the tail of stdout and stderr.
        "log_config": LogConfig(type="json-file", config={
            "max-size": str(max(limits.stdout_bytes * 2, 64 * 1024)), "max-file": "1"}),
        "working_dir": job.cwd,
        "mounts": [*(_bind(m.source, m.target, m.writable) for m in job.mounts),
                   _bind(job.output_dir, job.output_target, True)],
        "environment": {
            "HOME": "/tmp",
            # Threads follow the CPU quota, not the host's core count.
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            **job.env,
        },
    }
    if job.gpus:
        options["device_requests"] = [DeviceRequest(device_ids=[str(index) for index in job.gpus],
                                                    capabilities=[["gpu"]])]
    return options


def _folder_usage(folder: Path) -> tuple[int, int]:
    """(bytes on disk, entries) under `folder`, never following links out of it."""
    total = entries = 0
    for directory, folders, files in os.walk(folder, followlinks=False):
        entries += len(folders) + len(files)
        for file_name in files:
            try:
                stat = os.lstat(os.path.join(directory, file_name))
            except OSError:
                continue
            total += stat.st_blocks * 512
    return total, entries


def _as_process_status(exit_code: int | None, notes: list[str]) -> int | None:
    """The container's init reports a command killed by signal N as 128 + N; give it back as
    -N, as `subprocess` (and so the process backend) does."""
    if exit_code is not None and 128 < exit_code < 128 + 65:
        notes.append(f"container exit status {exit_code}: the command was killed by signal {exit_code - 128}")
        return -(exit_code - 128)
    return exit_code


def _tail(data: bytes, limit: int) -> str:
    if len(data) > limit:
        data = data[-limit:]
    return data.decode("utf-8", errors="replace")


class DockerSandbox(Sandbox):
    """Runs each job in a fresh container of `image` (default: the grader image of this tree:
    the CPU image, or the GPU image for a job with GPUs)."""
    harness_in_image = True  # the image's tag hashes autograder/harness/, so its harness is this tree's

    name = "docker"

    def __init__(self, image: str | None = None, docker: str = "docker", *, build_missing: bool = True,
                 client: docker.DockerClient | None = None):
        """`image=None`: the grader image of this tree (`autograder.images.image_tag`), built
        on first use when missing and `build_missing` (seconds when only the harness changed,
        minutes from nothing); `docker` is the CLI that builds images. `client`: the SDK
        client (default: from the environment, DOCKER_HOST or the local socket)."""
        self.image = image
        self.docker = docker
        self.build_missing = build_missing
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.from_env(timeout=DOCKER_CALL_TIMEOUT_S)
        return self._client

    def image_for(self, job: SandboxJob) -> str:
        if job.image:
            return job.image
        if self.image:
            return self.image
        from autograder import images

        kind = "gpu" if job.gpus else "cpu"
        tag = images.image_tag(kind)
        if images.image_exists(tag, self.docker):
            return tag
        if not self.build_missing:
            raise RuntimeError(f"grader image {tag} (built from this tree) is missing: run "
                               f"`python -m autograder.images build {kind}`")
        return images.build_image(kind, docker=self.docker)

    def describe(self) -> dict:
        return {"backend": self.name, "isolation": "docker: no network, read-only root, "
                "cgroup memory/pids/cpu, user nobody, no capabilities", "image": self.image}

    # -- the run ---------------------------------------------------------------------------

    def run(self, job: SandboxJob) -> SandboxOutcome:
        image = self.image_for(job)
        name = f"dlgrade-{uuid.uuid4().hex[:16]}"
        job.output_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(job.output_dir, 0o777)  # the container's user (nobody) writes its records here
        notes: list[str] = []
        started = time.monotonic()
        container = None
        try:
            try:
                container = self.client.containers.create(**container_options(job, image=image, name=name))
                container.start()
            except docker.errors.DockerException as exc:
                raise RuntimeError(f"docker could not start the sandbox container: {exc}") from exc
            timed_out, output_exceeded = self._watch(job, container, started)
            wall_s = time.monotonic() - started
            if timed_out:
                notes.append(f"killed after the wall-time limit of {job.limits.wall_s:g} s")
            if output_exceeded:
                notes.append(f"killed: the output folder grew past {job.limits.output_mb} MB "
                             f"or {MAX_OUTPUT_ENTRIES} files")
            container.reload()
            state, image_id = container.attrs.get("State", {}), container.attrs.get("Image") or None
            # The daemon's log holds at most a couple of limits' worth (see log_config).
            stdout = _tail(container.logs(stdout=True, stderr=False), job.limits.stdout_bytes)
            stderr = _tail(container.logs(stdout=False, stderr=True), job.limits.stdout_bytes)
        finally:
            self._remove(container if container is not None else name)
        killed = timed_out or output_exceeded
        exit_code = None if killed else _as_process_status(state.get("ExitCode"), notes)
        out_of_memory = bool(state.get("OOMKilled")) and not timed_out
        if out_of_memory:
            notes.append(f"killed by the out-of-memory killer at the {job.limits.memory_mb} MB limit")
        return SandboxOutcome(exit_code=exit_code, timed_out=timed_out, out_of_memory=out_of_memory,
                              wall_s=wall_s, stdout=stdout, stderr=stderr, output_dir=job.output_dir,
                              backend=self.name, image=image_id, notes=notes)

    def _watch(self, job: SandboxJob, container, started: float) -> tuple[bool, bool]:
        """Wait for the container to exit; kill it at the wall time, when the grader cancels
        the run, or when the output folder outgrows its cap. Returns (timed_out, output_exceeded)."""
        output_cap = job.limits.output_mb * 1024 * 1024
        timed_out = output_exceeded = False
        while not _exited_within(container, POLL_S):
            if time.monotonic() - started > job.limits.wall_s:
                timed_out = True
            elif job.cancel is not None and job.cancel.is_set():
                timed_out = True  # the grader saw a test outlive its limit
            else:
                used_bytes, entries = _folder_usage(job.output_dir)
                output_exceeded = used_bytes > output_cap or entries > MAX_OUTPUT_ENTRIES
            if timed_out or output_exceeded:
                try:
                    container.kill()
                except docker.errors.APIError:  # it exited in the meantime
                    pass
                _exited_within(container, DOCKER_CALL_TIMEOUT_S)
                break
        return timed_out, output_exceeded

    def _remove(self, container) -> None:
        try:
            if isinstance(container, str):
                container = self.client.containers.get(container)
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass


def _exited_within(container, timeout_s: float) -> bool:
    """Whether the container stopped within `timeout_s` (the daemon's wait, with a timeout)."""
    try:
        container.wait(timeout=timeout_s)
        return True
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        return False


def remove_stale_containers(client: docker.DockerClient | None = None) -> int:
    """Remove sandbox containers left by a worker that died mid-run. Returns how many."""
    client = client or docker.from_env(timeout=DOCKER_CALL_TIMEOUT_S)
    stale = client.containers.list(all=True, filters={"label": CONTAINER_LABEL})
    for container in stale:
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
    return len(stale)
