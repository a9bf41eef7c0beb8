"""Helpers for the worker tests (imported by conftest.py and the tests; named so it cannot
clash with another test folder's modules): a private redis-server, real `celery worker`
subprocesses, a bare producer that enqueues by task name as the portal does."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

import worker_standins
from fake_portal import FakePortal

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

TOKEN = "test-worker-token"
STANDIN_APP = "standin_app"  # tests/worker/standin_app.py: the worker around worker_standins.ENGINE
REAL_APP = "autograder.worker.app"  # the worker around the real engine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class RedisServer:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed: apt-get install redis-server")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(up, 10, "redis-server to start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # like a crash: nothing saved
            self.proc.wait()
            self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def client(self):
        import redis

        return redis.Redis(port=self.port)






class WorkerProcess:
    def __init__(self, name: str, cmd: list[str], env: dict, log_path: Path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 60) -> "WorkerProcess":
        wait_for(lambda: " ready." in self.log() or self.proc.poll() is not None, timeout_s,
                 f"worker {self.name} to be ready")
        if self.proc.poll() is not None:
            raise AssertionError(f"worker {self.name} exited:\n{self.log()[-4000:]}")
        return self

    def kill_all(self) -> None:
        """SIGKILL the worker and its pool: the host died."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self._log.close()


class WorkerFactory:
    """Starts `celery -A <app> worker` subprocesses configured by env."""

    def __init__(self, tmp_path: Path, redis_server: RedisServer, portal: FakePortal):
        self.tmp_path = tmp_path
        self.redis_server = redis_server
        self.portal = portal
        self.started: list[WorkerProcess] = []
        self.test_log = tmp_path / "grading.log"
        self.test_log.touch()

    def env(self, **overrides) -> dict:
        env = dict(os.environ)
        env.update({
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
            "DLGRADE_BROKER_URL": self.redis_server.url,
            "DLGRADE_PORTAL_URL": self.portal.url,
            "DLGRADE_WORKER_TOKEN": TOKEN,
            "DLGRADE_RUN_DIR": str(self.tmp_path / "run"),
            "DLGRADE_BUNDLE_CACHE_DIR": str(self.tmp_path / "cache"),
            "DLGRADE_CACHE_DIR": str(self.tmp_path / "engine-cache"),
            "DLGRADE_HEARTBEAT_S": "1",
            "DLGRADE_MAX_RUN_TIMEOUT_S": "150",
            "DLGRADE_SOFT_TIME_LIMIT_S": "240",
            "DLGRADE_TIME_LIMIT_S": "270",
            "DLGRADE_VISIBILITY_TIMEOUT_S": "300",
            "DLGRADE_RESTORE_SWEEP_S": "1",
            "DLGRADE_POST_INLINE_S": "3",
            "DLGRADE_TEST_LOG": str(self.test_log),
        })
        env.update({k: str(v) for k, v in overrides.items()})
        return env

    def start(self, name: str = "w1", concurrency: int | None = 1, wait: bool = True,
              app: str = STANDIN_APP, **env_overrides) -> WorkerProcess:
        """A worker process of Celery app `app`: the stand-in engine's by default,
        `REAL_APP` for the real engine. `concurrency=None`: the settings decide (one per GPU)."""
        slots = [] if concurrency is None else ["-c", str(concurrency)]
        cmd = [sys.executable, "-m", "celery", "-A", app, "worker",
               "-n", f"{name}@%h", "-P", "prefork", *slots, "-l", "info",
               "--without-gossip", "--without-mingle", "--without-heartbeat"]
        w = WorkerProcess(name, cmd, self.env(**env_overrides), self.tmp_path / f"{name}.log")
        self.started.append(w)
        return w.wait_ready() if wait else w

    def grading_log(self) -> list[tuple[str, int, int, float, str]]:
        """(start|done, submission id, pid, time, CUDA_VISIBLE_DEVICES) per stand-in event."""
        out = []
        for line in self.test_log.read_text().splitlines():
            what, sid, pid, when, gpus = line.split()
            out.append((what, int(sid), int(pid), float(when), gpus))
        return out

    def events(self, sid: int) -> list[str]:
        return [e[0] for e in self.grading_log() if e[1] == sid]

    def dump_logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.log()[-6000:]}" for w in self.started)




class Producer:
    """Enqueues like the portal: a bare Celery client, send_task by name."""

    def __init__(self, broker_url: str):
        from celery import Celery

        self.app = Celery("test-portal", broker=broker_url)
        self.app.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)

    def grade(self, submission_id: int, attempt: int = 1, queue: str = "cpu") -> None:
        self.app.send_task("dlgrade.grade_submission", args=[submission_id, attempt], queue=queue)

    def close(self) -> None:
        self.app.close()






def add_standin_submission(portal: FakePortal, assignment_id: int, **behaviour) -> int:
    sid = len(portal.submissions) + 1
    got = portal.add_submission(assignment_id, worker_standins.upload(sid, **behaviour),
                                filename="submission.py")
    assert got == sid
    return sid


def sweeper_once(env: dict, older_than_s: int = 0) -> str:
    out = subprocess.run([sys.executable, "-m", "autograder.worker.sweeper", "--once",
                          "--older-than", str(older_than_s)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout
