"""The whole product on one GPU host: a real Redis, the portal (gunicorn, SQLite) and a Celery
worker with the process sandbox; a course with a TA and a student; packages uploaded and gated,
released, then submissions uploaded through the portal's API, graded on the `gpu` queue and read
back as the student sees them. Prints, per grading, where the wall time went and the score.

A GPU package is gated twice, as in a deployment: its first gate runs on the `cpu` queue (the
portal cannot know the GPUs a package needs before its first gate report), on CPU through
Triton's interpreter; once that early gate passes, the portal sends the gate to the package's own
queue, where the GPU worker grades only the perf parts (the reference, the filled notebook, the
perf mutants) on the GPU. So every phase starts a CPU worker (`--cpu-slots` gradings at once)
beside the GPU worker. `gate` leaves everything in --state; `grade` starts the stack again on
that state. `all` does both on one host.

    python3 bench/gpu_worker_e2e.py gate  --state S triton_kernels qlora kv_cache
    python3 bench/gpu_worker_e2e.py grade --state S --gpus 0 triton_kernels kv_cache \\
        triton_kernels:matmul_perf_small_tiles --repeat triton_kernels --times 5
    python3 bench/gpu_worker_e2e.py all --state S --queue cpu example   # the CPU dry run

A target is a slug (the instructor's filled notebook, uploaded as a student would) or
slug:mutant (that notebook with the mutant's code appended to the solution cells it redefines).
`--repeat T --times N` regrades target T's submission N times (staff regrade: new attempts).
Without redis-server on PATH, unpack Debian's `redis-tools` and give --redis-server (the
`redis-check-rdb` binary, copied as `redis-server`) and --redis-lib (its libraries' folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from e2e_submissions import mutant_notebook, package_dir

from autograder.package import load_assignment

COURSE = "gpu-e2e"
PASSWORD = "bench-password-1"
ACCESS_FORMAT = '%(m)s %(U)s %(s)s %(L)s'  # method, path, status, seconds (gunicorn)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout_s: float, what: str, poll_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")


class Stack:
    """Redis, the portal and one worker, as subprocesses writing their logs under the state."""

    def __init__(self, state: Path, options):
        self.state, self.options = state, options
        self.logs = state / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis_port, self.portal_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.portal_port}"
        self.broker = f"redis://127.0.0.1:{self.redis_port}/0"
        self.processes: list[subprocess.Popen] = []
        self.app = None  # the portal's Flask app, for its CLI commands
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                    "DLGRADE_DATA_DIR": str(state / "portal"), "DLGRADE_BROKER_URL": self.broker,
                    "DLGRADE_RATE_LIMIT_STORAGE": "memory", "DLGRADE_PUBLIC_URL": self.url,
                    "DLGRADE_CACHE_DIR": str(state / "engine-cache"), "PYTHONUNBUFFERED": "1"}

    def spawn(self, name: str, argv: list[str], env: dict | None = None) -> None:
        with open(self.logs / f"{name}.log", "a") as log:  # the child keeps its own descriptor
            self.processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env or self.env,
                                                   cwd=REPO, start_new_session=True))

    def flask(self, *args: str) -> str:
        """`flask --app web ARGS`, the portal's own commands, run in this process."""
        if self.app is None:
            os.environ.update({k: v for k, v in self.env.items() if k.startswith("DLGRADE_")})
            from web import create_app

            self.app = create_app()
        done = self.app.test_cli_runner().invoke(args=list(args))
        if done.exit_code:
            raise SystemExit(f"flask {' '.join(args)} failed:\n{done.output}{done.exception!r}")
        return done.output.strip()

    def start(self) -> None:
        """Redis and the portal."""
        redis_env = dict(self.env)
        if self.options.redis_lib:
            redis_env["LD_LIBRARY_PATH"] = self.options.redis_lib
        self.spawn("redis", [self.options.redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(self.logs)], redis_env)
        wait_for(lambda: _connects(self.redis_port), 30, "redis-server")
        self.flask("db-upgrade")
        self.spawn("portal", [sys.executable, "-m", "gunicorn", "web:create_app()", "--bind",
                              f"127.0.0.1:{self.portal_port}", "--workers", "1", "--worker-class", "gthread",
                              "--threads", "8", "--timeout", "120", "--access-logfile",
                              str(self.logs / "access.log"), "--access-logformat", ACCESS_FORMAT])
        wait_for(lambda: _answers(self.url + "/api/openapi.json"), 60, "the portal")

    def start_worker(self, queues: str, gpus: str, slots: int = 1) -> None:
        worker_env = {**self.env, "DLGRADE_PORTAL_URL": self.url, "DLGRADE_WORKER_TOKEN": self.accounts()["worker"],
                      "DLGRADE_WORKER_NAME": f"e2e-{queues}", "DLGRADE_QUEUES": queues, "DLGRADE_GPUS": gpus,
                      "DLGRADE_SANDBOX": self.options.sandbox, "DLGRADE_RUN_DIR": str(self.state / f"run-{queues}"),
                      "DLGRADE_BUNDLE_CACHE_DIR": str(self.state / "bundles"), "DLGRADE_CPU_SLOTS": str(slots)}
        if gpus and self.options.runs_memory_mb:
            worker_env["DLGRADE_RUNS_MEMORY_MB"] = str(self.options.runs_memory_mb)
        if not gpus and self.options.cpu_worker_hides_gpus:
            worker_env["CUDA_VISIBLE_DEVICES"] = ""  # grade as on a host without a GPU
        worker_log = self.logs / f"worker-{queues}.log"
        before = worker_log.stat().st_size if worker_log.exists() else 0
        self.spawn(f"worker-{queues}", [sys.executable, "-m", "celery", "-A", "autograder.worker.app", "worker",
                                        "-Q", queues, "--concurrency", str(slots if not gpus else 1),
                                        "--loglevel", "INFO"], worker_env)
        # Uploads wait for the worker, so that a queue wait is never the worker's own start-up.
        wait_for(lambda: " ready." in worker_log.read_text()[before:], 180, "the Celery worker")

    def accounts(self) -> dict:
        """Course, TA, student and worker token: made once, kept in the state."""
        path = self.state / "accounts.json"
        if path.is_file():
            return json.loads(path.read_text())
        self.flask("db-upgrade")
        self.flask("create-course", COURSE, "GPU end to end")
        roster = self.state / "roster.csv"
        roster.write_text(f"email,name,role,password\nta@e2e.test,TA,ta,{PASSWORD}\n"
                          f"student@e2e.test,Student,student,{PASSWORD}\n")
        self.flask("import-roster", COURSE, str(roster))
        accounts = {"worker": self.flask("create-token", "--kind", "worker", "--name", "e2e worker"),
                    "ta": self.flask("create-token", "--kind", "user", "--name", "e2e", "--email", "ta@e2e.test"),
                    "student": self.flask("create-token", "--kind", "user", "--name", "e2e",
                                          "--email", "student@e2e.test"),
                    "assignments": {}, "submissions": {}}
        path.write_text(json.dumps(accounts, indent=1))
        return accounts

    def save(self, accounts: dict) -> None:
        (self.state / "accounts.json").write_text(json.dumps(accounts, indent=1))

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


class Api:
    def __init__(self, base: str, token: str):
        self.base, self.session = base + "/api", requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, self.base + path, timeout=120, **kwargs)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json()


def package_bytes(slug: str) -> bytes:
    """assignments/<slug> and reference/<slug> as the portal takes them (the example keeps its
    reference inside its folder)."""
    folder = package_dir(REPO, slug)
    reference = load_assignment(folder).reference_dir
    buffer = io.BytesIO()
    skip = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=f"assignments/{slug}", filter=lambda i: None if any(s in i.name for s in skip) else i)
        if not reference.is_relative_to(folder):
            archive.add(reference, arcname=f"reference/{slug}",
                        filter=lambda i: None if any(s in i.name for s in skip) else i)
    return buffer.getvalue()


def gate(stack: Stack, slugs: list[str], timeout_s: float) -> None:
    accounts = stack.accounts()
    ta = Api(stack.url, accounts["ta"])
    course = Api(stack.url, accounts["student"])("GET", "/me")["courses"][0]
    started = {}
    for slug in slugs:
        made = ta("POST", f"/courses/{course['id']}/assignments", files={"package": (f"{slug}.tar.gz", package_bytes(slug))})
        accounts["assignments"][slug] = made["id"]
        started[slug] = time.monotonic()
        print(f"gate of {slug}: assignment {made['id']}, queue {made.get('queue')}", flush=True)
    stack.save(accounts)
    for slug in slugs:
        aid = accounts["assignments"][slug]
        early = wait_for(lambda aid=aid: gated(ta("GET", f"/assignments/{aid}"), early=True), timeout_s,
                         f"the early gate of {slug}", poll_s=3)
        if early.get("early_gate_passed"):
            print(f"gate of {slug}: passed on {early['early_gate_queue']} after "
                  f"{time.monotonic() - started[slug]:.0f} s; the gate goes on to queue {early.get('queue')}",
                  flush=True)
        done = wait_for(lambda aid=aid: gated(ta("GET", f"/assignments/{aid}")), timeout_s, f"the gate of {slug}",
                        poll_s=3)
        print(f"gate of {slug}: {'passed' if done['gate_passed'] else 'FAILED'} after "
              f"{time.monotonic() - started[slug]:.0f} s (queue {done.get('queue')}, attempt "
              f"{done.get('gate_attempt')}; graded there: {gate_candidates(done)})", flush=True)
        if not done["gate_passed"]:
            raise SystemExit(f"the gate of {slug} failed: see its page or {stack.logs}")
        deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
        ta("PATCH", f"/assignments/{aid}", json={"deadline": deadline, "submissions_per_hour": 1000})
        ta("POST", f"/assignments/{aid}/release")


def gate_candidates(assignment: dict) -> str:
    """What the last gate graded, as its report names them (the perf-only GPU gate: few)."""
    report = assignment.get("gate_report") or {}
    report = json.loads(report) if isinstance(report, str) else report
    names = [entry.get("name", "?") for entry in report.get("entries") or []]
    scope = "perf parts only, " if report.get("perf_only") else ""
    return f"{scope}{len(names)} candidates in {report.get('duration_s', 0):.0f} s: {', '.join(names)}"


def gated(assignment: dict, early: bool = False) -> dict | None:
    if early and assignment.get("early_gate_passed") is not None:
        return assignment
    return assignment if assignment.get("gate_passed") is not None else None


def submission_file(target: str) -> tuple[str, bytes]:
    slug, _, mutant = target.partition(":")
    notebook = package_dir(REPO, slug) / "source.ipynb"
    if not mutant:
        return f"{slug}.ipynb", notebook.read_bytes()
    return f"{slug}-{mutant}.ipynb", json.dumps(mutant_notebook(notebook, package_dir(REPO, slug) / "mutants"
                                                                / f"{mutant}.py")).encode()


def timings(stack: Stack, submission_id: int, attempt: int, result: dict) -> dict:
    """Where a grading's time went: the portal's timestamps, the engine's durations and the
    portal's access log (how long the worker's result post took)."""
    with sqlite3.connect(stack.state / "portal" / "dlgrade.sqlite") as db:
        queued, started, finished = db.execute("SELECT queued_at, started_at, finished_at FROM submissions "
                                               "WHERE id = ?", (submission_id,)).fetchone()
    queued, started, finished = (dt.datetime.fromisoformat(text) if text else None
                                 for text in (queued, started, finished))
    durations = (result.get("run") or {}).get("durations") or {}
    posts = [float(line.split()[3]) for line in (stack.logs / "access.log").read_text().splitlines()
             if re.match(rf"POST /api/worker/submissions/{submission_id}/result 20\d ", line)]
    engine_s = float(durations.get("total_s") or 0)
    trusted_s, student_s = float(durations.get("trusted_s") or 0), float(durations.get("student_s") or 0)
    worker_s = (finished - started).total_seconds() if started and finished else float("nan")
    post_s = posts[-1] if posts else float("nan")
    return {"queue_wait_s": (started - queued).total_seconds() if started and queued else float("nan"),
            "fetch_s": worker_s - engine_s - post_s, "trusted_s": trusted_s, "student_s": student_s,
            "compare_s": engine_s - trusted_s - student_s, "post_s": post_s, "worker_s": worker_s,
            "trusted_cached": (result.get("run") or {}).get("trusted_cached")}


def await_grading(stack: Stack, student: Api, ta: Api, submission_id: int, attempt: int, timeout_s: float) -> dict:
    def graded():
        status = student("GET", f"/submissions/{submission_id}")
        return status if status["final"] and status["attempt"] == attempt else None

    status = wait_for(graded, timeout_s, f"submission {submission_id}", poll_s=1)
    full = ta("GET", f"/submissions/{submission_id}/result").get("result") or {}
    tests = full.get("tests") or []
    return {"status": status, "result": full, "timings": timings(stack, submission_id, attempt, full),
            "unmeasured": [t["name"] for t in tests if t.get("status") == "not-measured"],
            "failed": [t["name"] for t in tests if t.get("status") not in ("pass", "not-measured")]}


def report(label: str, graded: dict) -> str:
    t, s = graded["timings"], graded["status"]
    line = (f"{label:<46} {s['state']:<8} score {s.get('score')}/{s.get('max_score')}  queue {t['queue_wait_s']:.1f} s, "
            f"fetch {t['fetch_s']:.1f}, trusted {t['trusted_s']:.1f}{' (cached)' if t['trusted_cached'] else ''}, "
            f"student {t['student_s']:.1f}, compare {t['compare_s']:.1f}, post {t['post_s']:.2f}")
    if graded["unmeasured"]:
        line += f"\n{'':<46} not measured: {', '.join(graded['unmeasured'])}"
    if graded["failed"]:
        line += f"\n{'':<46} lost: {', '.join(graded['failed'][:8])}{' ...' if len(graded['failed']) > 8 else ''}"
    return line


def grade(stack: Stack, targets: list[str], repeat: str | None, times: int, timeout_s: float, out: Path) -> None:
    accounts = stack.accounts()
    student, ta = Api(stack.url, accounts["student"]), Api(stack.url, accounts["ta"])
    rows = []
    for target in targets + ([repeat] if repeat and repeat not in targets else []):
        aid = accounts["assignments"][target.partition(":")[0]]
        name, data = submission_file(target)
        made = student("POST", f"/assignments/{aid}/submissions", files={"notebook": (name, data)})
        graded = await_grading(stack, student, ta, made["id"], made["attempt"], timeout_s)
        rows.append({"target": target, "submission": made["id"], **graded})
        print(report(target, graded), flush=True)
        save(rows, out)
    if repeat:
        submission_id = next(row["submission"] for row in rows if row["target"] == repeat)
        for _ in range(times):
            again = ta("POST", f"/submissions/{submission_id}/regrade")
            graded = await_grading(stack, student, ta, submission_id, again["attempt"], timeout_s)
            rows.append({"target": f"{repeat} regrade {again['attempt']}", "submission": submission_id, **graded})
            print(report(f"{repeat} (regrade, attempt {again['attempt']})", graded), flush=True)
            save(rows, out)
        print(stability(repeat, [row for row in rows if row["submission"] == submission_id]))


def save(rows: list[dict], out: Path) -> None:
    (out / "gradings.json").write_text(json.dumps(
        [{key: row[key] for key in ("target", "submission", "status", "timings", "unmeasured", "failed")}
         for row in rows], indent=1, default=str))


def stability(target: str, rows: list[dict]) -> str:
    """Same score each time; a perf case given up as unmeasured leaves the maximum lowered by
    its points (the student is not penalised), which the line says."""
    scores = [(row["status"].get("score"), row["status"].get("max_score")) for row in rows]
    fractions = {round(score / top, 4) if score is not None and top else None for score, top in scores}
    verdict = ("the same score each time" if len(set(scores)) == 1 else
               "the same fraction each time; lower maxima: unmeasured perf cases, not counted"
               if len(fractions) == 1 else "SCORES DIFFER")
    return f"stability of {target}: {', '.join(f'{s}/{m}' for s, m in scores)}: {verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["gate", "grade", "all"])
    parser.add_argument("targets", nargs="+")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--queue", default="gpu", help="queue of the grading worker (cpu for a CPU dry run)")
    parser.add_argument("--gpus", default="0", help="DLGRADE_GPUS of the grading worker")
    parser.add_argument("--cpu-slots", type=int, default=2, help="gradings at once on the CPU worker (early gates)")
    parser.add_argument("--sandbox", default="process", help="DLGRADE_SANDBOX of both workers")
    parser.add_argument("--runs-memory-mb", type=int, default=0,
                        help="DLGRADE_RUNS_MEMORY_MB of the GPU worker (bounds its lanes; a device VM's MemTotal "
                             "starts low, so give the host's real memory, e.g. 131072)")
    parser.add_argument("--cpu-worker-hides-gpus", action="store_true",
                        help="the CPU worker sees no GPU (Triton interprets), as on a CPU-only host")
    parser.add_argument("--repeat", help="a target to regrade --times times")
    parser.add_argument("--times", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for one gate or grading")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    parser.add_argument("--redis-lib", default="")
    parser.add_argument("--out", type=Path, help="where gradings.json goes (default: the state)")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` still stops the stack below
    state = options.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    slugs = sorted({target.partition(":")[0] for target in options.targets})
    stack = Stack(state, options)
    try:
        stack.start()
        stack.start_worker("cpu", "", options.cpu_slots)
        if options.queue != "cpu":
            stack.start_worker(options.queue, options.gpus)
        if options.phase in ("gate", "all"):
            gate(stack, slugs, options.timeout)
        if options.phase in ("grade", "all"):
            grade(stack, options.targets, options.repeat, options.times, options.timeout, options.out or state)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
