"""Load test of the portal on deadline night, against gunicorn (infra/scripts/run_portal.sh).

The model (the default, `--arrival window`): 100 students, each logged in, upload their
notebook at a moment drawn uniformly over a 60 s window (seeded; 1.7 uploads a second, the
last minute before a deadline), through the browser's own flow: the upload form's POST, the
submission page it redirects to, then the page's status polls (status.json, on the schedule
the page gives status.js: web/views/submissions.py STATUS_POLL_*, revalidated with the last
ETag) until the status is final, then the page once more. A fake worker (4 slots, 2 s a
grading) takes the jobs from the real Redis broker and posts progress and results through the
signed worker API, as autograder/worker/jobs.py does. The target (issue 20): p95 of the
students' requests under 300 ms, no errors, with PostgreSQL on the 2-core machine.
`--arrival burst` keeps the older question, every student uploading at the same instant;
`--flow api` uploads and polls through the JSON API with a token instead.

Prints p50/p95/p99 latency per kind of request, errors, the load average, and where the time
goes: the portal runs with SERVER_TIMING on (web/timing.py), so each response says how long it
spent in the WSGI app and in SQL, and how many statements it ran; what the client waited beyond
that was spent outside Flask (waiting for a gunicorn thread or worker, the network).

    .venv/bin/python bench/bench_portal_load.py --database postgres               # deadline night
    .venv/bin/python bench/bench_portal_load.py --database postgres --arrival burst
    .venv/bin/python bench/bench_portal_load.py --database postgres --arrival burst --flow api --uploads 3
    .venv/bin/python bench/bench_portal_load.py --workers 4 --threads 4 --window-s 30   # SQLite by default

Tasks go to the real Redis broker (db 15) under a queue prefix of their own, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import secrets
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
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "tests" / "web"))  # web_helpers: the tests' tiny package, notebook and result
from bench.portal_fake_worker import fake_worker  # noqa: E402 (after the path)

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BROKER = "redis://127.0.0.1:6379/15"
TARGET_P95_MS = 300  # issue 20, judged on the deadline-night arrival


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def cpu_seconds(group: int) -> float:
    """User + system CPU time of the live processes of process group `group` (gunicorn's master and
    workers; PostgreSQL's and Redis's are not in it)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command name: state, ppid, pgrp, ...
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12]) if int(fields[2]) == group else 0  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def prepare(env: dict[str, str], clients: int) -> dict:
    """Create the course, a released assignment, the students (logged in, and a token each), a worker token."""
    os.environ.update(env)
    from web_helpers import gate_report_for, make_package  # the same tiny package the tests use

    from web import create_app, packages
    from web.db import db, utcnow
    from web.models import Assignment, Course, Membership, User, UserSession
    from web.security import issue_token
    from web.sessions import sid_digest

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
        students = []
        for n in range(clients):
            user = User(email=f"bench{n}@example.edu", name=f"Bench {n}", password_hash="!")
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(user_id=user.id, course_id=course.id, role="student"))
            # logged in earlier in the evening: a session row as web/sessions.py stores one at login
            session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            db.session.add(UserSession(sid_sha256=sid_digest(session_id), user_id=user.id, data={
                "user_id": user.id, "csrf": csrf}, expires_at=utcnow() + dt.timedelta(hours=12)))
            students.append({"token": issue_token(kind="user", user_id=user.id, name="bench")[1],
                             "session": session_id, "csrf": csrf})
        worker_token = issue_token(kind="worker", user_id=None, name="bench worker")[1]
        db.session.commit()
        assignment_id = assignment.id
        db.engine.dispose()
    return {"assignment_id": assignment_id, "students": students, "worker_token": worker_token}


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


async def timed(samples: Samples, errors: Counter, kind: str, expected: tuple[int, ...],
                request) -> httpx.Response | None:
    """Await `request`; the response if its status is one of `expected`, else None (an error is counted)."""
    started = time.perf_counter()
    try:
        response = await request
    except httpx.HTTPError as exc:
        errors[f"{kind} {type(exc).__name__}"] += 1
        return None
    samples.add(kind, time.perf_counter() - started, response)
    if response.status_code not in expected:
        errors[f"{kind} {response.status_code}"] += 1
        return None
    return response


def poll_waits():
    """The submission page's poll schedule in seconds (web/views/submissions.py owns it; status.js
    reads it from the page): the first wait, then each one `growth` times the last, up to the cap."""
    from web.views.submissions import STATUS_POLL_FIRST_MS, STATUS_POLL_GROWTH, STATUS_POLL_MAX_MS

    wait = STATUS_POLL_FIRST_MS / 1000
    while True:
        yield wait
        wait = min(wait * STATUS_POLL_GROWTH, STATUS_POLL_MAX_MS / 1000)


async def poll_until_final(client: httpx.AsyncClient, url: str, headers: dict, samples: Samples, errors: Counter,
                           max_polls: int) -> bool:
    """Poll `url` on the page's schedule, sending back the last ETag (the browser's HTTP cache does,
    under `no-cache`), until the status is final."""
    etag = None
    for _, wait in zip(range(max_polls), poll_waits()):
        await asyncio.sleep(wait)
        status = await timed(samples, errors, "poll", (200, 304), client.get(
            url, headers={**headers, "Accept": "application/json", **({"If-None-Match": etag} if etag else {})}))
        if status is None or status.status_code == 304:
            continue
        etag = status.headers.get("etag")
        if status.json()["final"]:
            samples.latency.setdefault("seen final", []).append(1)
            return True
    return False


async def browser_student(client: httpx.AsyncClient, who: dict, assignment_id: int, notebook: bytes, uploads: int,
                          samples: Samples, errors: Counter, max_polls: int) -> None:
    """What the browser does: the upload form's POST (303 to the submission page), the page, its
    status.js polls of status.json, and the page again once the status is final."""
    cookie = {"Cookie": f"dlgrade_session={who['session']}"}
    for _ in range(uploads):
        uploaded = await timed(samples, errors, "upload", (303,), client.post(
            f"/assignments/{assignment_id}/submit", headers=cookie, data={"csrf_token": who["csrf"]},
            files={"notebook": ("bench.ipynb", notebook, "application/x-ipynb+json")}))
        page_url = uploaded.headers.get("location", "") if uploaded is not None else ""
        if "/submissions/" not in page_url:
            errors["upload not redirected to its page"] += uploaded is not None
            continue
        if await timed(samples, errors, "page", (200,), client.get(page_url, headers=cookie)) is None:
            continue
        if await poll_until_final(client, f"{page_url}/status.json", cookie, samples, errors, max_polls):
            await timed(samples, errors, "page", (200,), client.get(page_url, headers=cookie))


async def api_student(client: httpx.AsyncClient, who: dict, assignment_id: int, notebook: bytes, uploads: int,
                      samples: Samples, errors: Counter, max_polls: int) -> None:
    """What a script on the JSON API does: upload, then poll /api/submissions/<id> on the page's schedule."""
    headers = {"Authorization": f"Bearer {who['token']}"}
    for _ in range(uploads):
        uploaded = await timed(samples, errors, "upload", (201,), client.post(
            f"/api/assignments/{assignment_id}/submissions", headers=headers,
            files={"notebook": ("bench.ipynb", notebook, "application/x-ipynb+json")}))
        if uploaded is not None:
            await poll_until_final(client, f"/api/submissions/{uploaded.json()['id']}", headers, samples, errors,
                                   max_polls)


async def run_clients(base: str, setup: dict, args, samples: Samples, errors: Counter) -> float:
    """Every student starts at their arrival time: all at once (`burst`), or each at a moment drawn
    uniformly over `window_s` (`window`, the deadline night)."""
    from web_helpers import notebook_bytes

    notebook = notebook_bytes(slug="bench")
    rng = random.Random(args.seed)
    arrivals = [0.0 if args.arrival == "burst" else rng.uniform(0, args.window_s) for _ in setup["students"]]
    flow = browser_student if args.flow == "page" else api_student

    async def arrive(who: dict, at_s: float) -> None:
        await asyncio.sleep(at_s)
        await flow(client, who, setup["assignment_id"], notebook, args.uploads, samples, errors, args.max_polls)

    limits = httpx.Limits(max_connections=len(setup["students"]) + 10)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(arrive(who, at) for who, at in zip(setup["students"], arrivals)))
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100, help="students")
    parser.add_argument("--arrival", choices=["window", "burst"], default="window",
                        help="window: each student at a uniformly random moment of --window-s; burst: all at once")
    parser.add_argument("--window-s", type=float, default=60.0, help="the window the uploads arrive in")
    parser.add_argument("--flow", choices=["page", "api"], default="page",
                        help="page: the browser's form, page and status.js polls; api: the JSON API with a token")
    parser.add_argument("--uploads", type=int, default=1, help="uploads per student, each after the last was graded")
    parser.add_argument("--max-polls", type=int, default=40, help="status polls per upload at most")
    parser.add_argument("--seed", type=int, default=20, help="seed of the arrival times")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--port", type=int, default=8765)
    from web.config import Settings
    portal_default = {f.name: f.default for f in dataclasses.fields(Settings)}
    parser.add_argument("--workers", type=int, default=portal_default["PORTAL_WORKERS"], help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=portal_default["PORTAL_THREADS"], help="threads per gunicorn worker")
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
        schema = f"dlgrade_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        env.update(DATABASE_URL=PG_URL, DLGRADE_DATABASE_SCHEMA=schema)
    setup = prepare(env, args.clients)
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [str(REPO / "infra/scripts/run_portal.sh")],
        env={**os.environ, **env, "DLGRADE_PORTAL_BIND": f"127.0.0.1:{args.port}", "DLGRADE_PORTAL_ACCESS_LOG": "/dev/null",
             "DLGRADE_PORTAL_WORKERS": str(args.workers), "DLGRADE_PORTAL_THREADS": str(args.threads)},
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
        slots += [threading.Thread(target=fake_worker, args=(base, setup["worker_token"], BROKER, f"{prefix}cpu", args.grade_s,
                                                            stop, samples, errors, slot == 0))
                   for slot in range(args.worker_slots)]
        for slot in slots:
            slot.start()
        load_before, cpu_before = os.getloadavg(), cpu_seconds(server.pid)
        elapsed = asyncio.run(run_clients(base, setup, args, samples, errors))
        load_after, portal_cpu = os.getloadavg(), cpu_seconds(server.pid) - cpu_before
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
            with sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))

    student_kinds = ("upload", "page", "poll")
    every = [v * 1000 for kind in student_kinds for v in samples.latency.get(kind, [])]
    arrival = (f"arriving uniformly over {args.window_s:.0f} s (seed {args.seed})" if args.arrival == "window"
               else "all at the same instant")
    print(f"portal load: {args.clients} students x {args.uploads} uploads {arrival}, {args.flow} flow, {args.database}, "
          f"gunicorn {args.workers} workers x {args.threads} threads, fake worker {args.worker_slots} slots x "
          f"{args.grade_s:.0f} s, {os.cpu_count()} cores, load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after (1 min)")
    for kind in (*student_kinds, "worker read", "worker progress", "worker result"):
        print(samples.report(kind))
    p95 = percentile(every, 95)
    print(f"  {'students, all':15s} n={len(every):5d}  p50={percentile(every, 50):7.1f}  p95={p95:7.1f}  "
          f"p99={percentile(every, 99):7.1f} ms  throughput={len(every) / elapsed:.0f} req/s over {elapsed:.0f} s")
    served = sum(len(v) for k, v in samples.latency.items() if k in student_kinds or k.startswith("worker"))
    print(f"  portal CPU (gunicorn's processes): {portal_cpu:.1f} s for {served} requests, "
          f"{portal_cpu * 1000 / max(served, 1):.1f} ms a request")
    print(f"  graded and seen final by the student: {len(samples.latency.get('seen final', []))} of "
          f"{args.clients * args.uploads}\n  errors: {sum(errors.values())} {dict(errors) or ''}")
    if args.arrival == "window":
        met = p95 < TARGET_P95_MS and not errors
        print(f"  deadline-night target (p95 of students' requests under {TARGET_P95_MS} ms, no errors): "
              f"{'met' if met else 'NOT met'}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
