"""The Docker backend: one fresh container per run, locked down, killed from outside.

Isolation: no network, read-only root, size-capped tmpfs for /scratch, /tmp and /dev/shm,
cgroup memory without swap, a process limit, a CPU quota, user nobody, no capabilities, no
privilege gain, only the job's mounts (read-only unless marked writable) and only its GPUs.
The worker enforces the wall time (`docker kill`), caps the logs in the daemon (json-file,
one file of bounded size, so 10 GB on stdout never reaches the disk) and removes the
container whatever happened. The image digest that ran is recorded in the outcome.

`run_argv` builds the `docker run` command line as a pure function, so tests can check
every flag of a CPU or GPU job without a daemon or a GPU.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
import uuid
from pathlib import Path

from autograder.sandbox.base import Sandbox, SandboxJob, SandboxOutcome

SANDBOX_USER = "65534:65534"  # nobody:nogroup
CONTAINER_LABEL = "org.dlgrade.sandbox"  # every sandbox container carries it (for sweeping)
DOCKER_CALL_TIMEOUT_S = 120  # a daemon call (create, inspect, logs, rm) that takes longer is stuck
POLL_S = 0.1  # how often the watchdog looks at the container and the output folder
MAX_OUTPUT_ENTRIES = 20_000  # files and folders in the output folder (empty files cost inodes)


def _mount_flag(source: Path, target: str, writable: bool) -> str:
    source_text = str(Path(source).resolve())
    for text in (source_text, target):
        # --mount is comma-separated key=value: a comma or quote would change its meaning.
        if "," in text or '"' in text or "\n" in text:
            raise ValueError(f"mount path {text!r} contains a comma, quote or newline")
    flag = f"type=bind,source={source_text},target={target}"
    return flag if writable else flag + ",readonly"


def run_argv(job: SandboxJob, *, image: str, name: str, docker: str = "docker") -> list[str]:
    """The `docker run` command line for `job` in container `name` (pure: no daemon calls)."""
    limits = job.limits
    # Files the run writes (scratch, output) are bounded one by one; the total of the output
    # folder is watched from outside.
    file_size_bytes = max(limits.scratch_mb, limits.output_mb) * 1024 * 1024
    threads = max(1, math.ceil(limits.cpus))
    argv = [
        docker, "run", "--detach",
        "--name", name,
        "--label", f"{CONTAINER_LABEL}=1",
        "--hostname", "sandbox",
        "--network", "none",
        "--ipc", "private",
        "--read-only",
        "--tmpfs", f"/scratch:rw,nosuid,nodev,size={limits.scratch_mb}m,mode=1777",
        "--tmpfs", f"/tmp:rw,nosuid,nodev,size={limits.scratch_mb}m,mode=1777",
        "--shm-size", f"{limits.scratch_mb}m",
        "--memory", f"{limits.memory_mb}m",
        "--memory-swap", f"{limits.memory_mb}m",  # equal to --memory: no swap at all
        "--oom-score-adj", "1000",  # on host memory pressure, sandboxes die before the worker
        "--pids-limit", str(limits.pids),
        "--cpus", f"{limits.cpus:g}",
        "--ulimit", f"nofile={limits.open_files}:{limits.open_files}",
        "--ulimit", f"fsize={file_size_bytes}:{file_size_bytes}",
        "--ulimit", "core=0:0",
        "--user", SANDBOX_USER,
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--init",  # a real PID 1 reaps orphans, so a fork bomb's zombies go away
        # The daemon keeps one log file of bounded size: the tail of stdout and stderr.
        "--log-driver", "json-file",
        "--log-opt", f"max-size={max(limits.stdout_bytes * 2, 64 * 1024)}",
        "--log-opt", "max-file=1",
        "--workdir", job.cwd,
    ]
    if job.gpus:
        # The quotes are part of the value: docker splits --gpus on commas otherwise.
        argv += ["--gpus", '"device=' + ",".join(str(index) for index in job.gpus) + '"']
    for mount in job.mounts:
        argv += ["--mount", _mount_flag(mount.source, mount.target, mount.writable)]
    argv += ["--mount", _mount_flag(job.output_dir, job.output_target, True)]
    environment = {
        "HOME": "/tmp",
        # Threads follow the CPU quota, not the host's core count.
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        **job.env,
    }
    for key, value in environment.items():
        argv += ["--env", f"{key}={value}"]
    argv += ["--entrypoint", job.argv[0], image, *job.argv[1:]]
    return argv


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
    harness_in_image = True  # the image's tag hashes autograder/, so its harness is this tree's

    name = "docker"

    def __init__(self, image: str | None = None, docker: str = "docker", *, build_missing: bool = True):
        """`image=None`: the grader image of this tree (`autograder.images.image_tag`), built
        on first use when missing and `build_missing` (seconds when only the harness changed,
        minutes from nothing)."""
        self.image = image
        self.docker = docker
        self.build_missing = build_missing

    def _docker(self, *args: str, check: bool = True, timeout: float = DOCKER_CALL_TIMEOUT_S,
                ) -> subprocess.CompletedProcess:
        return subprocess.run([self.docker, *args], capture_output=True, timeout=timeout, check=check)

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
        try:
            created = subprocess.run(run_argv(job, image=image, name=name, docker=self.docker),
                                     capture_output=True, timeout=DOCKER_CALL_TIMEOUT_S)
            if created.returncode != 0:
                raise RuntimeError(f"docker run failed ({created.returncode}): "
                                   f"{created.stderr.decode(errors='replace').strip()}")
            timed_out, output_exceeded = self._watch(job, name, started)
            wall_s = time.monotonic() - started
            if timed_out:
                notes.append(f"killed after the wall-time limit of {job.limits.wall_s:g} s")
            if output_exceeded:
                notes.append(f"killed: the output folder grew past {job.limits.output_mb} MB "
                             f"or {MAX_OUTPUT_ENTRIES} files")
            state, image_id = self._inspect(name)
            stdout, stderr = self._logs(name, job.limits.stdout_bytes)
        finally:
            subprocess.run([self.docker, "rm", "--force", "--volumes", name], capture_output=True,
                           timeout=DOCKER_CALL_TIMEOUT_S)
        killed = timed_out or output_exceeded
        exit_code = None if killed else _as_process_status(state.get("ExitCode"), notes)
        out_of_memory = bool(state.get("OOMKilled")) and not timed_out
        if out_of_memory:
            notes.append(f"killed by the out-of-memory killer at the {job.limits.memory_mb} MB limit")
        return SandboxOutcome(exit_code=exit_code, timed_out=timed_out, out_of_memory=out_of_memory,
                              wall_s=wall_s, stdout=stdout, stderr=stderr, output_dir=job.output_dir,
                              backend=self.name, image=image_id, notes=notes)

    def _watch(self, job: SandboxJob, name: str, started: float) -> tuple[bool, bool]:
        """Wait for the container to exit; kill it at the wall time or when the output folder
        outgrows its cap. Returns (timed_out, output_exceeded)."""
        waiter = subprocess.Popen([self.docker, "wait", name], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        output_cap = job.limits.output_mb * 1024 * 1024
        timed_out = output_exceeded = False
        try:
            while waiter.poll() is None:
                if time.monotonic() - started > job.limits.wall_s:
                    timed_out = True
                elif job.cancel is not None and job.cancel.is_set():
                    timed_out = True  # the grader saw a test outlive its limit
                else:
                    used_bytes, entries = _folder_usage(job.output_dir)
                    output_exceeded = used_bytes > output_cap or entries > MAX_OUTPUT_ENTRIES
                if timed_out or output_exceeded:
                    self._docker("kill", name, check=False)
                    break
                time.sleep(POLL_S)
            waiter.wait(timeout=DOCKER_CALL_TIMEOUT_S)
        finally:
            if waiter.poll() is None:
                waiter.kill()
                waiter.wait()
        return timed_out, output_exceeded

    def _inspect(self, name: str) -> tuple[dict, str | None]:
        result = self._docker("inspect", "--format", "{{json .State}}\n{{.Image}}", name, check=False)
        if result.returncode != 0:
            return {}, None
        state_line, _, image_id = result.stdout.decode().partition("\n")
        return json.loads(state_line), image_id.strip() or None

    def _logs(self, name: str, limit: int) -> tuple[str, str]:
        # The daemon's log holds at most a couple of limits' worth (see --log-opt max-size).
        result = self._docker("logs", name, check=False)
        return _tail(result.stdout, limit), _tail(result.stderr, limit)


def remove_stale_containers(docker: str = "docker") -> int:
    """Remove sandbox containers left by a worker that died mid-run. Returns how many."""
    listed = subprocess.run([docker, "ps", "--all", "--quiet", "--filter", f"label={CONTAINER_LABEL}"],
                            capture_output=True, text=True, timeout=DOCKER_CALL_TIMEOUT_S)
    ids = listed.stdout.split()
    if ids:
        subprocess.run([docker, "rm", "--force", *ids], capture_output=True, timeout=DOCKER_CALL_TIMEOUT_S)
    return len(ids)
