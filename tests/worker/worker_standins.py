"""Stand-ins for the engine's entry points, handed to the worker's Celery app as `ENGINE`
(tests/worker/standin_app.py), for tests that need a fast or misbehaving grader (the 200-job
run, a grader that kills its worker). The upload is a JSON object saying how to behave:

    {"sid": 7, "sleep": 0.05, "burn": 0.2, "kill": "once" | "always", "raise": "message"}

Every start and finish is appended to $DLGRADE_TEST_LOG ("start|done <sid> <pid> <time>
<CUDA_VISIBLE_DEVICES or ->"), so a test counts how often a submission was really graded.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
import time
from pathlib import Path

from autograder.worker.engine import Engine


class _Result:
    def __init__(self, data: dict):
        self.data = data

    def to_dict(self) -> dict:
        return self.data


def _log(line: str) -> None:
    path = os.environ.get("DLGRADE_TEST_LOG")
    if path:
        with open(path, "a") as fh:  # one short write per line: atomic with O_APPEND
            fh.write(line + "\n")


def _burn(seconds: float) -> None:
    """Keep one CPU busy for `seconds` (a CPU-bound stand-in for the test run)."""
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        for i in range(2000):
            x += i * i


def grade(assignment_dir: Path, submission: Path, *, sandbox: str = "process", seed=None,
          on_progress=None, gpus: tuple[int, ...] = (), trusted_share=None, run_lanes: int = 1):
    spec = json.loads(Path(submission).read_text())
    sid = spec["sid"]
    started = time.monotonic()
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES") or "-"
    _log(f"start {sid} {os.getpid()} {time.time():.6f} {cvd}")
    kill = spec.get("kill")
    if kill == "always" or (kill == "once" and not (Path(assignment_dir) / f".killed-{sid}").exists()):
        (Path(assignment_dir) / f".killed-{sid}").touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if spec.get("raise"):
        raise RuntimeError(spec["raise"])
    tests = ["test_a", "test_b", "test_c"]
    for i, name in enumerate(tests):
        if on_progress:
            on_progress({"test": f"hidden/test_x.py::{name}", "part": "basics", "done": i,
                         "total": len(tests)})
        time.sleep(float(spec.get("sleep", 0)) / len(tests))
        _burn(float(spec.get("burn", 0)) / len(tests))
    if on_progress:
        on_progress({"test": None, "part": None, "done": len(tests), "total": len(tests)})
    _log(f"done {sid} {os.getpid()} {time.time():.6f} {cvd}")
    assert (Path(assignment_dir) / "assignment.toml").exists(), "bundle not unpacked"
    return _Result({
        "schema_version": 1, "status": "graded", "score": 1.0, "max_score": 1.0,
        "tests": [{"name": n, "score": 1.0 / 3, "max_score": 1.0 / 3} for n in tests],
        "standin": {"grade_s": time.monotonic() - started, "sid": sid, "pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                   "run_lanes": run_lanes},
    })


def unpack(bundle_path: Path, dest: Path) -> Path:
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(bundle_path, "r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest


def make_bundle(files: dict[str, str] | None = None) -> bytes:
    """A tiny grader bundle (tar.gz) holding `files`."""
    files = files or {"assignment.toml": 'schema = 1\nslug = "standin"\n'}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload(sid_hint: int | str, **behaviour) -> bytes:
    return json.dumps({"sid": sid_hint, **behaviour}).encode()


class _GateReport:
    def __init__(self, passed: bool, bundle_path: Path, bundle_digest: str, release_path: Path, release_digest: str,
                 ran_with: dict):
        self.passed, self.bundle_path, self.bundle_digest = passed, bundle_path, bundle_digest
        self.release_path, self.release_digest = release_path, release_digest
        self.ran_with = ran_with

    def to_dict(self) -> dict:
        return {"passed": self.passed, "gates": [{"name": "reference", "passed": self.passed}],
                "release_digest": self.release_digest, "ran_with": self.ran_with}


def gate(package_dir: Path, *, out_dir: Path, sandbox: str = "process", jobs: int = 2, perf_only: bool = False,
         gpus: tuple[int, ...] = ()):
    """Stand-in for the release gate: "builds" a bundle from the package's assignment.toml, and
    reports how it was run (the GPUs it saw, its jobs, perf_only)."""
    import hashlib

    toml = (Path(package_dir) / "assignment.toml").read_text()
    data = make_bundle({"assignment.toml": toml})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "bundle.tar.gz"
    path.write_bytes(data)
    release = make_bundle({"release.ipynb": "{}"})
    release_path = out_dir / "release.zip"
    release_path.write_bytes(release)
    ran_with = {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "gpus": list(gpus), "jobs": jobs,
                "perf_only": perf_only}
    return _GateReport("fail_gate" not in toml, path, hashlib.sha256(data).hexdigest(), release_path,
                       hashlib.sha256(release).hexdigest(), ran_with)


ENGINE = Engine(grade=grade, run_gate=gate, unpack=unpack)
