"""Load test of the portal: N concurrent students upload notebooks and poll their status
against gunicorn (infra/scripts/run_portal.sh), while a fake worker posts progress and
results through the signed worker API. Prints p50/p95/p99 latency per kind of request, errors,
the machine's load average, and where the time goes: the portal runs with SERVER_TIMING on
(web/timing.py), so each response says how long it spent in Flask and in SQL, and how many
statements it ran; what the client waited beyond that was spent outside Flask (waiting for a
gunicorn thread, the network).

    .venv/bin/python bench/bench_portal_load.py                      # 100 clients, SQLite
    .venv/bin/python bench/bench_portal_load.py --database postgres  # the real PostgreSQL
    .venv/bin/python bench/bench_portal_load.py --clients 100 --uploads 3 --port 8765

Tasks go to the real Redis broker (db 15) under a queue prefix of their own, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "tests" / "web"))  # web_helpers: the tests' tiny package, notebook and result
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BROKER = "redis://127.0.0.1:6379/15"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def prepare(env: dict[str, str], clients: int) -> dict:
    """Create the course, a released assignment, the students' tokens and a worker token."""
    os.environ.update(env)
    from web_helpers import gate_report_for, make_package  # the same tiny package the tests use

    from web import create_app, packages
    from web.db import db, utcnow
    from web.models import Assignment, Course, Membership, User
    from web.security import issue_token

    import datetime as dt

    app = create_app()
    with app.app_context():
        store = app.extensions["dlgrade_store"]
        course = Course(slug="bench", title="Bench course", late_days=3)
        db.session.add(course)
        db.session.flush()
        report, release_zip = gate_report_for(make_package("bench"))
        info = packages.gated_assignment(report, "bench")
        assignment = Assignment(
            course_id=course.id, slug="bench", title="Bench", parts=info.parts, solution_ids=info.solution_ids,
            max_score=15, max_upload_mb=1, package_sha256=store.put(make_package("bench")),
            release_sha256=store.put(release_zip), bundle_digest=store.put(b"bench bundle"), gate_attempt=1,
            gate_passed=True, state="released", deadline=utcnow() + dt.timedelta(days=1), released_at=utcnow(),
            submissions_per_hour=1000)
        db.session.add(assignment)
        tokens = []
        for n in range(clients):
            user = User(email=f"bench{n}@example.edu", name=f"Bench {n}", password_hash="!")
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(user_id=user.id, course_id=course.id, role="student"))
            tokens.append(issue_token(kind="user", user_id=user.id, name="bench")[1])
        worker_token = issue_token(kind="worker", user_id=None, name="bench worker")[1]
        db.session.commit()
        assignment_id = assignment.id
        db.engine.dispose()
    return {"assignment_id": assignment_id, "tokens": tokens, "worker_token": worker_token}


def fake_worker(base: str, token: str, queue: str, grade_s: float, stop: threading.Event, samples: Samples,
                errors: Counter, announce: bool) -> None:
    """One worker slot: takes `dlgrade.grade_submission` jobs from the broker queue the portal sends
    them to, and talks to the portal as autograder/worker/jobs.py does (read the submission, post
    progress, "grade" for `grade_s`, post the result); the `announce` slot posts the worker's
    heartbeat every 20 s, as a worker's main process does."""
    import redis

    from autograder.worker.sweeper import _task_args
    from web.security import sign

    from web_helpers import make_result

    def call(kind: str, method: str, path: str, payload: dict | None = None) -> None:
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers.update({"Content-Type": "application/json", "X-Dlgrade-Signature": sign(body, token)})
        started = time.perf_counter()
        r = client.request(method, path, content=body, headers=headers)
        samples.add(kind, time.perf_counter() - started, r)
        if r.status_code != 200:
            errors[f"{kind} {r.status_code}"] += 1

    broker = redis.Redis.from_url(BROKER)
    last_beat = 0.0
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            try:
                if announce and time.monotonic() - last_beat > 20:
                    call("worker heartbeat", "POST", "/api/worker/workers/heartbeat", {
                        "worker": "bench", "queues": ["cpu"], "gpus": [], "concurrency": 1,
                        "started_at": "2026-01-01T00:00:00+00:00"})
                    last_beat = time.monotonic()
                popped = broker.brpop([queue], timeout=1)
                parsed = _task_args(popped[1]) if popped else None
                if parsed is None or parsed[0] != "dlgrade.grade_submission":
                    continue
                sid, attempt = parsed[1][:2]
                call("worker read", "GET", f"/api/worker/submissions/{sid}")
                call("worker progress", "POST", f"/api/worker/submissions/{sid}/progress", {
                    "attempt": attempt, "state": "running", "worker": "bench", "part": "softmax", "done": 1,
                    "total": 2})
                stop.wait(grade_s)
                call("worker result", "POST", f"/api/worker/submissions/{sid}/result",
                     {"attempt": attempt, "worker": "bench", "result": make_result()})
            except httpx.HTTPError as exc:
                errors[f"worker {type(exc).__name__}"] += 1


def server_timing(response: httpx.Response) -> dict[str, float]:
    """{"app": ms, "db": ms, "statements": n} from the portal's Server-Timing header."""
    found: dict[str, float] = {}
    for metric in response.headers.get("server-timing", "").split(","):
        name, _, rest = metric.strip().partition(";")
        for param in rest.split(";"):
            key, _, value = param.partition("=")
            if key == "dur":
                found[name] = float(value)
            elif key == "desc" and value.strip('"').endswith(" statements"):
                found["statements"] = float(value.strip('"').split()[0])
    return found


class Samples:
    """Per kind of request: client latency (s) and the server's own account of its time."""

    def __init__(self):
        self.latency: dict[str, list[float]] = {}
        self.server: dict[str, list[dict[str, float]]] = {}

    def add(self, kind: str, seconds: float, response: httpx.Response) -> None:
        self.latency.setdefault(kind, []).append(seconds)
        self.server.setdefault(kind, []).append(server_timing(response))

    def report(self, kind: str) -> str:
        values = [v * 1000 for v in self.latency.get(kind, [])]
        if not values:
            return f"  {kind:15s} n=    0"
        timings = [t for t in self.server[kind] if "app" in t]
        app = [t["app"] for t in timings]
        db = [t.get("db", 0.0) for t in timings]
        outside = [v - t["app"] for v, t in zip(values, self.server[kind]) if "app" in t]
        statements = statistics.mean(t.get("statements", 0) for t in timings) if timings else float("nan")
        return (f"  {kind:15s} n={len(values):5d}  p50={percentile(values, 50):7.1f}  p95={percentile(values, 95):7.1f}  "
                f"p99={percentile(values, 99):7.1f}  max={max(values):7.1f} ms | in Flask p50={percentile(app, 50):6.1f} "
                f"p95={percentile(app, 95):6.1f}, in SQL p50={percentile(db, 50):6.1f} ({statements:.1f} statements), "
                f"outside Flask p50={percentile(outside, 50):6.1f} p95={percentile(outside, 95):6.1f} ms")


async def timed(samples: Samples, errors: Counter, kind: str, expected: int, request) -> httpx.Response | None:
    """Await `request`; the response if it has status `expected`, else None (an error is counted)."""
    started = time.perf_counter()
    try:
        response = await request
    except httpx.HTTPError as exc:
        errors[f"{kind} {type(exc).__name__}"] += 1
        return None
    samples.add(kind, time.perf_counter() - started, response)
    if response.status_code != expected:
        errors[f"{kind} {response.status_code}"] += 1
        return None
    return response


async def student(client: httpx.AsyncClient, token: str, assignment_id: int, notebook: bytes, uploads: int,
                  samples: Samples, errors: Counter, max_polls: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(uploads):
        uploaded = await timed(samples, errors, "upload", 201, client.post(
            f"/api/assignments/{assignment_id}/submissions", headers=headers,
            files={"notebook": ("bench.ipynb", notebook, "application/x-ipynb+json")}))
        if uploaded is None:
            continue
        delay = 1.5  # as web/static/status.js: 1.5 s, growing by 1.3x up to 10 s
        for _ in range(max_polls):
            await asyncio.sleep(delay)
            delay = min(delay * 1.3, 10.0)
            status = await timed(samples, errors, "poll", 200,
                                 client.get(f"/api/submissions/{uploaded.json()['id']}", headers=headers))
            if status is not None and status.json()["final"]:
                samples.latency.setdefault("seen final", []).append(1)
                break


async def run_clients(base: str, setup: dict, uploads: int, max_polls: int, samples: Samples,
                      errors: Counter) -> float:
    from web_helpers import notebook_bytes

    notebook = notebook_bytes(slug="bench")
    limits = httpx.Limits(max_connections=len(setup["tokens"]) + 10)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(student(client, token, setup["assignment_id"], notebook, uploads, samples, errors,
                                       max_polls) for token in setup["tokens"]))
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--uploads", type=int, default=3, help="uploads per client")
    parser.add_argument("--max-polls", type=int, default=40, help="status polls per upload (spaced as the status page does)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--worker-slots", type=int, default=4, help="fake grading slots taking jobs from the queue")
    parser.add_argument("--grade-s", type=float, default=2.0, help="seconds one fake grading takes")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="dlgrade-bench-")
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    env = {"DLGRADE_DATA_DIR": data_dir, "DLGRADE_BROKER_URL": BROKER, "DLGRADE_QUEUE_PREFIX": prefix,
           "DLGRADE_API_RATE_LIMIT": "100000/60", "DLGRADE_RATE_LIMIT_STORAGE": BROKER,
           "DLGRADE_SECRET_KEY": uuid.uuid4().hex, "DLGRADE_SERVER_TIMING": "1"}
    schema = None
    if args.database == "postgres":
        import sqlalchemy as sa

        schema = f"dlgrade_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        env.update(DATABASE_URL=PG_URL, DLGRADE_DATABASE_SCHEMA=schema)
    setup = prepare(env, args.clients)
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [str(REPO / "infra/scripts/run_portal.sh"), "--access-logfile", "/dev/null"],
        env={**os.environ, **env, "PORTAL_BIND": f"127.0.0.1:{args.port}", "PORTAL_WORKERS": str(args.workers),
             "PORTAL_THREADS": str(args.threads)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    stop = threading.Event()
    samples, errors = Samples(), Counter()
    slots: list[threading.Thread] = []
    try:
        up_by = time.monotonic() + 180  # migrations, then gunicorn's imports, on a loaded machine
        while time.monotonic() < up_by and server.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            print(server.stderr.read1().decode() if server.stderr else "", file=sys.stderr)
            raise SystemExit("gunicorn did not come up")
        slots += [threading.Thread(target=fake_worker, args=(base, setup["worker_token"], f"{prefix}cpu", args.grade_s,
                                                            stop, samples, errors, slot == 0))
                   for slot in range(args.worker_slots)]
        for slot in slots:
            slot.start()
        load_before = os.getloadavg()
        elapsed = asyncio.run(run_clients(base, setup, args.uploads, args.max_polls, samples, errors))
        load_after = os.getloadavg()
    finally:
        stop.set()
        for slot in slots:
            slot.join(timeout=10)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        import redis

        r = redis.Redis.from_url(BROKER)
        for key in r.scan_iter(f"{prefix}*"):
            r.delete(key)
        if schema:
            import sqlalchemy as sa

            with sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))

    requests = len(samples.latency.get("upload", [])) + len(samples.latency.get("poll", []))
    print(f"portal load: {args.clients} clients x {args.uploads} uploads, {args.database}, gunicorn "
          f"{args.workers}x{args.threads} threads, {os.cpu_count()} cores, load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (1 min)")
    for kind in ("upload", "poll", "worker read", "worker progress", "worker result"):
        print(samples.report(kind))
    samples.latency["all"] = samples.latency.get("upload", []) + samples.latency.get("poll", [])
    every = [v * 1000 for v in samples.latency["all"]]
    print(f"  {'students, all':15s} n={requests:5d}  p50={percentile(every, 50):7.1f}  p95={percentile(every, 95):7.1f}  "
          f"p99={percentile(every, 99):7.1f} ms  throughput={requests / elapsed:.0f} req/s over {elapsed:.0f} s")
    print(f"  graded and seen final by the student: {len(samples.latency.get('seen final', []))} of "
          f"{args.clients * args.uploads}")
    print(f"  errors: {sum(errors.values())} {dict(errors) or ''}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
