"""The process backend: a child process under rlimits, inside bubblewrap where it exists.

With bubblewrap (Debian package `bubblewrap`): no network, a fresh PID namespace, a
read-only view of only the runtime (/usr, /lib, the Python installation), a private tmpfs for
/tmp and the scratch folder, nothing of the host's home, the repository or other submissions
except what the job mounts. Without it, only the rlimits and a scratch working directory
apply; `describe()` says so and the result records it.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from autograder.sandbox import gpu_devices
from autograder.sandbox.base import Limits, Mount, Sandbox, SandboxJob, SandboxOutcome, folder_bytes
from autograder.sandbox.leftovers import CGROUP_ROOT, cgroup_name, empty_cgroup, scratch_prefix

NOBODY_UID = 65534
# What the runtime needs, read-only, when bubblewrap builds the filesystem.
RUNTIME_PATHS = ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/alternatives", "/etc/ssl", "/etc/ld.so.cache",
                 "/etc/localtime", "/etc/passwd", "/etc/group"]


def _world_can_reach(path: str) -> bool:
    """Whether every folder on the way to `path` is searchable by others (uid nobody)."""
    current = Path(os.path.realpath(path))
    for folder in [current, *current.parents]:
        if folder.is_dir() and not folder.stat().st_mode & 0o001:
            return False
    return True


def nobody_can_run_python() -> bool:
    return all(_world_can_reach(path) for path in (sys.executable, sys.base_prefix, sys.prefix))


def bubblewrap_path() -> str | None:
    return shutil.which("bwrap")


def python_runtime_paths() -> list[str]:
    """The interpreter's installation and the virtual environment it runs in."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return sorted(path for path in paths if path and not path.startswith(("/usr", "/lib")))


class _Capped:
    """Reads a pipe to the end, keeping only the last `cap` bytes (10 GB of stdout must cost
    nothing but CPU)."""

    def __init__(self, stream, cap: int):
        self.stream, self.cap = stream, cap
        self.data = bytearray()
        self.dropped = 0
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        while chunk := self.stream.read(65536):
            self.data += chunk
            if len(self.data) > self.cap:
                self.dropped += len(self.data) - self.cap
                del self.data[: len(self.data) - self.cap]

    def text(self) -> str:
        self.thread.join(timeout=5)
        prefix = f"[{self.dropped} earlier bytes dropped]\n" if self.dropped else ""
        return prefix + self.data.decode("utf-8", errors="replace")


class _Cgroups:
    """Per-run cgroup v1 `pids` and `memory` groups where the host lets us make them.

    Root ignores RLIMIT_NPROC, and RLIMIT_AS counts address space rather than memory (torch
    and Triton reserve far more than they touch), so real limits come from cgroups; the
    rlimits stay as the fallback.
    """

    ROOT = CGROUP_ROOT

    def __init__(self, limits: Limits):
        self.dirs: dict[str, Path] = {}
        name = cgroup_name()  # names a leftover of a killed run (leftovers.py)
        settings = {
            "pids": {"pids.max": str(limits.pids)},
            "memory": {"memory.limit_in_bytes": str(limits.memory_mb * 1024 * 1024)},
        }
        for controller, values in settings.items():
            base = self.ROOT / controller
            if not os.access(base, os.W_OK):
                continue
            path = base / name
            try:
                path.mkdir()
                for key, value in values.items():
                    (path / key).write_text(value)
                if controller == "memory" and (path / "memory.memsw.limit_in_bytes").exists():
                    (path / "memory.memsw.limit_in_bytes").write_text(values["memory.limit_in_bytes"])
            except OSError:
                self._remove(path)
                continue
            self.dirs[controller] = path

    @property
    def limits_memory(self) -> bool:
        return "memory" in self.dirs

    def join(self) -> None:
        """Called in the child before exec."""
        for path in self.dirs.values():
            (path / "cgroup.procs").write_text(str(os.getpid()))

    def out_of_memory(self) -> bool:
        path = self.dirs.get("memory")
        if path is None:
            return False
        try:
            control = (path / "memory.oom_control").read_text()
            kills = next((int(line.split()[1]) for line in control.splitlines() if line.startswith("oom_kill ")), 0)
            return kills > 0
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        for path in self.dirs.values():
            empty_cgroup(path)

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.rmdir()
        except OSError:
            pass


def _apply_rlimits(limits: Limits, drop_to_nobody: bool, cgroups: _Cgroups, gpu_run: bool):
    def preexec():
        os.setsid()  # a process group we can kill whole
        cgroups.join()
        # RLIMIT_AS is the fallback limit; CUDA reserves far more address space than it uses,
        # so a GPU run without a memory cgroup goes without it.
        if not cgroups.limits_memory and not gpu_run:
            memory = limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = int(limits.wall_s * max(limits.cpus, 1)) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.pids, limits.pids))
        scratch = limits.scratch_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (scratch, scratch))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop_to_nobody:
            os.setgroups([])
            os.setgid(NOBODY_UID)
            os.setuid(NOBODY_UID)

    return preexec


class ProcessSandbox(Sandbox):
    name = "process"
    python = sys.executable  # the grader's own environment, mounted read-only

    def __init__(self, use_bubblewrap: bool | None = None):
        found = bubblewrap_path()
        self.bwrap = found if use_bubblewrap is not False else None
        if use_bubblewrap and not found:
            raise RuntimeError("bubblewrap was asked for but `bwrap` is not installed (apt-get install bubblewrap)")

    @property
    def _drop_to_nobody(self) -> bool:
        return not self.bwrap and os.geteuid() == 0 and nobody_can_run_python()

    def describe(self) -> dict:
        if self.bwrap:
            isolation = "bubblewrap"
        else:
            user = "as nobody" if self._drop_to_nobody or os.geteuid() != 0 else "as root: the interpreter is not reachable by nobody"
            isolation = f"rlimits only, {user} (no network or filesystem isolation)"
        return {"backend": self.name, "isolation": isolation}

    @property
    def isolates_network(self) -> bool:
        return self.bwrap is not None

    def seen_at(self, mount: Mount) -> str:
        return mount.target if self.bwrap else str(mount.source)  # without bwrap: host paths (_host_path)

    def run(self, job: SandboxJob) -> SandboxOutcome:
        with tempfile.TemporaryDirectory(prefix=scratch_prefix()) as scratch:
            os.chmod(scratch, 0o777)
            job.output_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(job.output_dir, 0o777)
            argv, env = self._command(job, Path(scratch))
            return self._execute(job, argv, env)

    def _command(self, job: SandboxJob, scratch: Path) -> tuple[list[str], dict]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/scratch" if self.bwrap else str(scratch),
            "TMPDIR": "/tmp" if self.bwrap else str(scratch),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": str(max(int(job.limits.cpus), 1)),
            "MPLBACKEND": "Agg",
            "CUDA_VISIBLE_DEVICES": ",".join(str(gpu) for gpu in job.gpus),
            **job.env,
        }
        if not self.bwrap:
            # Without namespaces the in-sandbox paths are the host paths themselves.
            env["HOME"] = str(scratch)
            return [_host_path(arg, job, scratch) for arg in job.argv], {
                key: _host_path(value, job, scratch) for key, value in env.items()
            }
        # Run as root, bwrap can bind what root can read (the Python under /root); inside the
        # new user namespace the run is uid 65534 with no capabilities.
        argv = [
            self.bwrap, "--unshare-all", "--die-with-parent", "--new-session",
            "--uid", str(NOBODY_UID), "--gid", str(NOBODY_UID),
            "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp",
            "--bind", str(scratch), "/scratch",
            "--chdir", job.cwd,
            "--cap-drop", "ALL",
        ]
        for path in RUNTIME_PATHS + python_runtime_paths():
            if os.path.exists(path):
                argv += ["--ro-bind", path, path]
        for mount in job.mounts:
            argv += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.target]
        argv += ["--bind", str(job.output_dir), job.output_target]
        if job.gpus:  # only this job's GPUs, as in a container (gpu_devices.py)
            for device in gpu_devices.device_files(job.gpus):
                argv += ["--dev-bind", str(device), str(device)]
            env["CUDA_VISIBLE_DEVICES"] = gpu_devices.visible_inside(job.gpus)
        # The root is bwrap's own tmpfs, holding only the mount points made above: read-only
        # once they exist, so nothing outside /scratch, /tmp and the output folder is writable.
        argv += ["--remount-ro", "/", "--clearenv"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        return argv + ["--"] + job.argv, env

    def _execute(self, job: SandboxJob, argv: list[str], env: dict) -> SandboxOutcome:
        cgroups = _Cgroups(job.limits)
        try:
            return self._execute_in(job, argv, env, cgroups)
        finally:
            cgroups.close()

    def _execute_in(self, job: SandboxJob, argv: list[str], env: dict, cgroups: _Cgroups) -> SandboxOutcome:
        started = time.monotonic()
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            cwd=None if self.bwrap else _host_path(job.cwd, job, Path(env["HOME"])),
            preexec_fn=_apply_rlimits(job.limits, drop_to_nobody=self._drop_to_nobody,
                                      cgroups=cgroups, gpu_run=bool(job.gpus)),
        )
        stdout = _Capped(process.stdout, job.limits.stdout_bytes)
        stderr = _Capped(process.stderr, job.limits.stdout_bytes)
        timed_out = output_exceeded = False
        notes = []
        polls = 0
        try:
            while process.poll() is None:
                polls += 1
                if time.monotonic() - started > job.limits.wall_s:
                    timed_out = True
                    notes.append(f"killed after the wall-time limit of {job.limits.wall_s:g} s")
                elif job.cancel is not None and job.cancel.is_set():
                    timed_out = True
                    notes.append("stopped by the grader: a test ran past its time limit")
                elif polls % 4 == 0 and folder_bytes(job.output_dir) > job.limits.output_mb * 2**20:
                    output_exceeded = True
                    notes.append(f"killed: the output folder grew past {job.limits.output_mb} MB")
                if timed_out or output_exceeded:
                    break
                time.sleep(0.25)
        finally:
            _kill_group(process)
        wall = time.monotonic() - started
        exit_code = None if (timed_out or output_exceeded) else process.returncode
        err_text = stderr.text()
        out_of_memory = cgroups.out_of_memory() or (
            exit_code is not None and any(sign in err_text[-4000:] for sign in _OOM_SIGNS))
        return SandboxOutcome(
            exit_code=exit_code, timed_out=timed_out, out_of_memory=out_of_memory, wall_s=wall,
            stdout=stdout.text(), stderr=err_text, output_dir=job.output_dir, backend=self.name, notes=notes,
        )


_OOM_SIGNS = ("MemoryError", "Cannot allocate memory", "can't allocate memory", "DefaultCPUAllocator")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _host_path(value: str, job: SandboxJob, scratch: Path) -> str:
    """Without bubblewrap, in-sandbox targets are rewritten to their host sources."""
    mapping = {mount.target: str(mount.source) for mount in job.mounts}
    mapping[job.output_target] = str(job.output_dir)
    mapping["/scratch"] = str(scratch)
    for mount in job.mounts:  # a folder holding a mount (PYTHONPATH=/grader/lib for /grader/lib/autograder/harness)
        below = mount.target[len(value):].strip("/") if mount.target.startswith(value.rstrip("/") + "/") else ""
        source = Path(mount.source)
        if below and source.parts[-len(below.split("/")):] == tuple(below.split("/")):
            return str(source.parents[len(below.split("/")) - 1])
    for target in sorted(mapping, key=len, reverse=True):
        if value == target or value.startswith(target + "/"):
            return mapping[target] + value[len(target):]
    return value
