"""The load bench's stand-in for a grading worker (bench/bench_portal_load.py): it takes jobs from
the real broker queue and talks to the portal as autograder/worker/jobs.py does, without grading."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import httpx


def fake_worker(base: str, token: str, broker_url: str, queue: str, grade_s: float, stop: threading.Event, samples,
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

    broker = redis.Redis.from_url(broker_url)
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
                call("worker progress", "POST", f"/api/worker/submissions/{sid}/progress", {"attempt": attempt,
                     "state": "running", "worker": "bench", "part": "softmax", "done": 1, "total": 2})
                stop.wait(grade_s)
                call("worker result", "POST", f"/api/worker/submissions/{sid}/result",
                     {"attempt": attempt, "worker": "bench", "result": make_result()})
            except httpx.HTTPError as exc:
                errors[f"worker {type(exc).__name__}"] += 1
