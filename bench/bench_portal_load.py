"""Load test of the portal: N concurrent students upload notebooks and poll their status
against gunicorn (infra/scripts/run_portal.sh), while a fake worker posts progress and
results through the signed worker API. Prints p50/p95 latency per kind of request and errors.

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


def fake_worker(base: str, token: str, stop: threading.Event, stats: dict) -> None:
    """Picks up stuck-or-new work through /api/worker/stuck and answers it like a worker."""
    from web.security import sign

    from web_helpers import make_result

    done: set[tuple[int, int]] = set()
    last_beat = 0.0
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            try:
                if time.monotonic() - last_beat > 20:  # announce itself as a real worker does
                    beat = json.dumps({"worker": "bench", "queues": ["cpu"], "gpus": [], "concurrency": 1,
                                       "started_at": "2026-01-01T00:00:00+00:00"}).encode()
                    client.post("/api/worker/workers/heartbeat", content=beat, headers={
                        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
                        "X-Dlgrade-Signature": sign(beat, token)})
                    last_beat = time.monotonic()
                stuck = client.get("/api/worker/stuck", params={"older_than_s": 0},
                                   headers={"Authorization": f"Bearer {token}"}).json()["submissions"]
                for item in stuck:
                    key = (item["id"], item["attempt"])
                    if key in done:
                        continue
                    for path, payload in (
                        ("progress", {"attempt": item["attempt"], "state": "running", "worker": "bench",
                                      "part": "softmax", "done": 1, "total": 2}),
                        ("result", {"attempt": item["attempt"], "worker": "bench", "result": make_result()}),
                    ):
                        body = json.dumps(payload).encode()
                        started = time.perf_counter()
                        r = client.post(f"/api/worker/submissions/{item['id']}/{path}", content=body, headers={
                            "Authorization": f"Bearer {token}", "Content-Type": "application/json",
                            "X-Dlgrade-Signature": sign(body, token)})
                        stats.setdefault(f"worker {path}", []).append(time.perf_counter() - started)
                        if r.status_code != 200:
                            stats.setdefault("worker errors", []).append(r.status_code)
                    done.add(key)
            except httpx.HTTPError:
                stats.setdefault("worker errors", []).append(-1)
            stop.wait(0.5)


async def student(client: httpx.AsyncClient, token: str, assignment_id: int, notebook: bytes, uploads: int,
                  latencies: dict, errors: dict, max_polls: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(uploads):
        started = time.perf_counter()
        try:
            r = await client.post(f"/api/assignments/{assignment_id}/submissions", headers=headers,
                                  files={"notebook": ("bench.ipynb", notebook, "application/x-ipynb+json")})
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            continue
        latencies["upload"].append(time.perf_counter() - started)
        if r.status_code != 201:
            errors[f"upload {r.status_code}"] = errors.get(f"upload {r.status_code}", 0) + 1
            continue
        submission_id = r.json()["id"]
        delay = 1.5  # as web/static/status.js: 1.5 s, growing by 1.3x up to 10 s
        for _ in range(max_polls):
            await asyncio.sleep(delay)
            delay = min(delay * 1.3, 10.0)
            started = time.perf_counter()
            try:
                p = await client.get(f"/api/submissions/{submission_id}", headers=headers)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies["poll"].append(time.perf_counter() - started)
            if p.status_code != 200:
                errors[f"poll {p.status_code}"] = errors.get(f"poll {p.status_code}", 0) + 1
                break
            if p.json()["final"]:
                latencies["graded"].append(1)
                break


async def run_clients(base: str, setup: dict, uploads: int, max_polls: int) -> tuple[dict, dict, float]:
    from web_helpers import notebook_bytes

    notebook = notebook_bytes(slug="bench")
    latencies: dict[str, list[float]] = {"upload": [], "poll": [], "graded": []}
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=len(setup["tokens"]) + 10)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(student(client, token, setup["assignment_id"], notebook, uploads, latencies, errors,
                                       max_polls) for token in setup["tokens"]))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--uploads", type=int, default=3, help="uploads per client")
    parser.add_argument("--max-polls", type=int, default=40, help="status polls per upload (spaced as the status page does)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="dlgrade-bench-")
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    env = {"DLGRADE_DATA_DIR": data_dir, "DLGRADE_BROKER_URL": BROKER, "DLGRADE_QUEUE_PREFIX": prefix,
           "DLGRADE_API_RATE_LIMIT": "100000/60", "DLGRADE_RATE_LIMIT_STORAGE": BROKER,
           "DLGRADE_SECRET_KEY": uuid.uuid4().hex}
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
    worker_stats: dict[str, list] = {}
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            print(server.stderr.read1().decode() if server.stderr else "", file=sys.stderr)
            raise SystemExit("gunicorn did not come up")
        worker = threading.Thread(target=fake_worker, args=(base, setup["worker_token"], stop, worker_stats))
        worker.start()
        latencies, errors, elapsed = asyncio.run(run_clients(base, setup, args.uploads, args.max_polls))
    finally:
        stop.set()
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

    requests = len(latencies["upload"]) + len(latencies["poll"])
    print(f"portal load: {args.clients} clients x {args.uploads} uploads, {args.database}, gunicorn "
          f"{args.workers}x{args.threads} threads, {os.cpu_count()} cores")
    for kind in ("upload", "poll"):
        values = latencies[kind]
        print(f"  {kind:7s} n={len(values):5d}  p50={percentile(values, 50) * 1000:7.1f} ms  "
              f"p95={percentile(values, 95) * 1000:7.1f} ms  max={max(values or [0]) * 1000:7.1f} ms")
    everything = latencies["upload"] + latencies["poll"]
    print(f"  all     n={requests:5d}  p50={percentile(everything, 50) * 1000:7.1f} ms  "
          f"p95={percentile(everything, 95) * 1000:7.1f} ms  throughput={requests / elapsed:.0f} req/s")
    for kind in ("worker progress", "worker result"):
        if worker_stats.get(kind):
            print(f"  {kind:16s} n={len(worker_stats[kind])} p50={statistics.median(worker_stats[kind]) * 1000:.1f} ms")
    print(f"  graded and seen final by the student: {len(latencies['graded'])} of {args.clients * args.uploads}")
    print(f"  errors: {sum(errors.values())} {errors or ''}; worker errors: {len(worker_stats.get('worker errors', []))}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
