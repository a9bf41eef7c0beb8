"""Grading throughput of the Celery workers with 1 and 2 worker processes on CPU, and the
end-to-end overhead (enqueue → result stored at the portal, minus the grading itself).

Everything is real except the portal (tests/worker/fake_portal.py, in this process): a
private redis-server, `celery worker` subprocesses, the bare producer the portal uses. The
grading is either a stand-in that burns CPU for a fixed time (`--work cpu`, default), one that
sleeps (`--work sleep`: the framework alone), or the real engine on
tests/example_assignment (`--work real`).

    .venv/bin/python bench/bench_worker_throughput.py [--jobs 40] [--work cpu] [--test-s 0.2]

Prints medians and ratios; `--json PATH` also writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "worker")]

from fake_portal import FakePortal  # noqa: E402
import worker_standins  # noqa: E402

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(cond, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


class Stack:
    def __init__(self, work: str, test_s: float):
        self.tmp = Path(tempfile.mkdtemp(prefix="dlgrade-bench-"))
        self.redis_port = free_port()
        self.redis = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.redis_port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.redis_port)

        def up():
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait(up, 10, "redis-server")
        self.portal = FakePortal(token=TOKEN).start()
        self.work, self.test_s = work, test_s
        if work == "real":
            from autograder.bundle import bundle_bytes
            from autograder.package import load_assignment

            example = ROOT / "tests" / "example_assignment"
            digest = self.portal.add_bundle(bundle_bytes(load_assignment(example)))
            self.upload = (example / "notebook.py").read_bytes()
        else:
            digest = self.portal.add_bundle(worker_standins.make_bundle())
        self.assignment = self.portal.add_assignment("bench", digest)
        from celery import Celery

        self.producer = Celery("bench-portal", broker=f"redis://127.0.0.1:{self.redis_port}/0")
        self.producer.conf.update(task_serializer="json")
        self.workers: list[subprocess.Popen] = []

    def env(self) -> dict:
        env = dict(os.environ)
        env.update({
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "worker")]),
            "DLGRADE_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "DLGRADE_PORTAL_URL": self.portal.url,
            "DLGRADE_WORKER_TOKEN": TOKEN,
            "DLGRADE_RUN_DIR": str(self.tmp / "run"),
            "DLGRADE_BUNDLE_CACHE_DIR": str(self.tmp / "cache"),
            "DLGRADE_CACHE_DIR": str(self.tmp / "engine-cache"),
        })
        return env

    def start_workers(self, n: int) -> None:
        for i in range(n):
            log = open(self.tmp / f"w{len(self.workers)}.log", "ab")
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "autograder.worker.app" if self.work == "real" else "standin_app",
                 "worker",
                 "-n", f"bench{len(self.workers)}@%h", "-c", "1", "-l", "warning",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                env=self.env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.workers.append(proc)
        # warm up: one job per worker so imports and the bundle cache are not measured
        self.run_jobs(n, concurrent=True)

    def stop_workers(self) -> None:
        for proc in self.workers:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            proc.wait(timeout=30)
        self.workers.clear()

    def _upload(self, sid: int) -> bytes:
        if self.work == "real":
            return self.upload
        behaviour = {"sleep": self.test_s} if self.work == "sleep" else {"burn": self.test_s}
        return worker_standins.upload(sid, **behaviour)

    def run_jobs(self, n: int, concurrent: bool) -> list[dict]:
        """Enqueue n jobs (all at once, or each after the previous result); per-job figures."""
        sids = []
        for _ in range(n):
            sid = len(self.portal.submissions) + 1
            assert self.portal.add_submission(self.assignment, self._upload(sid), "notebook.py") == sid
            sids.append(sid)
        sent = {}
        for sid in sids:
            sent[sid] = time.time()
            self.producer.send_task("dlgrade.grade_submission", args=[sid, 1], queue="cpu")
            if not concurrent:
                wait(lambda: 1 in self.portal.submissions[sid].result_at, 600, f"job {sid}")
        wait(lambda: all(1 in self.portal.submissions[s].result_at for s in sids), 1800, "all jobs")
        out = []
        for sid in sids:
            sub = self.portal.submissions[sid]
            result = sub.results[1]
            if self.work == "real":
                grade_s = result["run"]["durations"]["total_s"]
            else:
                grade_s = result["standin"]["grade_s"]
            out.append({"sid": sid, "sent": sent[sid], "stored": sub.result_at[1],
                        "latency_s": sub.result_at[1] - sent[sid], "grade_s": grade_s,
                        "posts": len(sub.result_posts)})
        return out

    def close(self) -> None:
        if self.workers:
            self.stop_workers()
        self.portal.stop()
        self.redis.kill()
        self.redis.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def summarize(jobs: list[dict], workers: int = 1) -> dict:
    span = max(j["stored"] for j in jobs) - min(j["sent"] for j in jobs)
    mean_grade_s = statistics.fmean(j["grade_s"] for j in jobs)
    return {
        # what each job cost a worker process beyond grading, with the queue never empty
        "busy_overhead_s": round(span * workers / len(jobs) - mean_grade_s, 4),
        "jobs": len(jobs),
        "wall_s": round(span, 3),
        "jobs_per_s": round(len(jobs) / span, 3),
        "median_grade_s": round(statistics.median(j["grade_s"] for j in jobs), 4),
        "median_latency_s": round(statistics.median(j["latency_s"] for j in jobs), 4),
        "median_overhead_s": round(statistics.median(j["latency_s"] - j["grade_s"] for j in jobs), 4),
        "duplicates": sum(j["posts"] - 1 for j in jobs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=40, help="jobs per throughput run")
    parser.add_argument("--work", choices=("cpu", "sleep", "real"), default="cpu")
    parser.add_argument("--test-s", type=float, default=0.2, help="stand-in grading time per job")
    parser.add_argument("--serial", type=int, default=15, help="jobs for the unloaded-overhead run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    stack = Stack(args.work, args.test_s)
    figures: dict = {"work": args.work, "test_s": args.test_s if args.work != "real" else None,
                     "cpus": os.cpu_count()}
    try:
        for n in (1, 2):
            stack.start_workers(n)
            if n == 1:
                figures["unloaded"] = summarize(stack.run_jobs(args.serial, concurrent=False))
            figures[f"workers_{n}"] = summarize(stack.run_jobs(args.jobs, concurrent=True), n)
            stack.stop_workers()
    finally:
        stack.close()
    figures["throughput_ratio_2_vs_1"] = round(
        figures["workers_2"]["jobs_per_s"] / figures["workers_1"]["jobs_per_s"], 3)

    u, w1, w2 = figures["unloaded"], figures["workers_1"], figures["workers_2"]
    print(f"work: {args.work}" + (f" ({args.test_s:.2f} s per job)" if args.work != "real" else "")
          + f", {os.cpu_count()} CPUs")
    print(f"unloaded, one job at a time ({u['jobs']} jobs): median enqueue→stored "
          f"{u['median_latency_s']:.3f} s, grading {u['median_grade_s']:.3f} s, "
          f"overhead {u['median_overhead_s'] * 1000:.0f} ms")
    for name, f in (("1 worker process", w1), ("2 worker processes", w2)):
        print(f"{name}: {f['jobs']} jobs in {f['wall_s']:.2f} s = {f['jobs_per_s']:.2f} jobs/s; "
              f"grading {f['median_grade_s']:.3f} s, per-job overhead under load "
              f"{f['busy_overhead_s'] * 1000:.0f} ms, duplicates {f['duplicates']}")
    print(f"throughput ratio 2 vs 1 worker processes: {figures['throughput_ratio_2_vs_1']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
