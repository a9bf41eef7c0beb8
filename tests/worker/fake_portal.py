"""A small in-memory portal implementing the worker endpoints of CONTRACT.md, for the
worker's tests and benchmark: bearer token, HMAC signatures, idempotent results per
(submission, attempt), the stuck list for the sweeper, and fault injection (taken down and
brought back on the same port, or answers lost after the request was handled)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

DONE = ("graded", "rejected", "error")


@dataclass
class Submission:
    id: int
    assignment_id: int
    filename: str
    data: bytes
    attempt: int = 1
    state: str = "queued"
    updated: float = field(default_factory=time.monotonic)
    enqueued_at: dict = field(default_factory=dict)  # attempt -> time.time() of enqueue
    results: dict = field(default_factory=dict)  # attempt -> result JSON
    result_at: dict = field(default_factory=dict)  # attempt -> time.time() stored
    result_posts: list = field(default_factory=list)  # (attempt, "stored"|"duplicate"|"409")
    progress: list = field(default_factory=list)
    failures: list = field(default_factory=list)


@dataclass
class Assignment:
    id: int
    slug: str
    bundle_digest: str | None
    queue: str
    package: bytes | None = None
    attempt: int = 1
    gate_reports: dict = field(default_factory=dict)
    early_gate_passed: bool = False


@dataclass
class Fault:
    method: str
    pattern: str
    status: int
    times: int
    after: bool  # handle the request, then answer `status` (the answer is "lost")


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.open_sockets: set = set()
        self.sockets_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Kill keep-alive connections too, so "down" means down."""
        import socket as _socket

        with self.sockets_lock:
            for sock in list(self.open_sockets):
                try:
                    sock.shutdown(_socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class FakePortal:
    def __init__(self, token: str = "worker-token", host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self.host = host
        self.port = port
        self.lock = threading.RLock()
        self.submissions: dict[int, Submission] = {}
        self.assignments: dict[int, Assignment] = {}
        self.bundles: dict[str, bytes] = {}
        self.releases: dict[str, bytes] = {}
        self.trusted_runs: dict[str, str] = {}  # trusted-run key -> digest of its archive
        self.blobs: dict[str, bytes] = {}  # trusted-run archives by digest (tests may corrupt them)
        self.heartbeats: list[dict] = []  # POST /api/worker/workers/heartbeat bodies, in order
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, int]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "FakePortal":
        portal = self

        class Handler(_Handler):
            pass

        Handler.portal = portal
        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None

    down = stop  # connection refused until up()

    def up(self) -> None:
        self.start()

    # -- scenario helpers ---------------------------------------------------------------
    def add_bundle(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.bundles[digest] = data
        return digest

    def add_assignment(self, slug: str, bundle_digest: str | None, gpus: int = 0,
                       package: bytes | None = None) -> int:
        with self.lock:
            ident = len(self.assignments) + 1
            queue = "cpu" if gpus == 0 else "gpu" if gpus == 1 else f"gpu-{gpus}"
            self.assignments[ident] = Assignment(ident, slug, bundle_digest, queue, package)
            return ident

    def add_submission(self, assignment_id: int, data: bytes,
                       filename: str = "submission.ipynb") -> int:
        with self.lock:
            ident = len(self.submissions) + 1
            sub = Submission(ident, assignment_id, filename, data)
            sub.enqueued_at[1] = time.time()
            self.submissions[ident] = sub
            return ident

    def regrade(self, submission_id: int) -> int:
        with self.lock:
            sub = self.submissions[submission_id]
            sub.attempt += 1
            sub.state = "queued"
            sub.updated = time.monotonic()
            sub.enqueued_at[sub.attempt] = time.time()
            return sub.attempt

    def queue_of(self, submission_id: int) -> str:
        return self.assignments[self.submissions[submission_id].assignment_id].queue

    def fail(self, method: str, pattern: str, status: int = 503, times: int = 1,
             after: bool = False) -> None:
        with self.lock:
            self.faults.append(Fault(method, pattern, status, times, after))

    def stored_count(self, submission_id: int) -> int:
        with self.lock:
            return sum(1 for _, what in self.submissions[submission_id].result_posts if what == "stored")

    def states(self) -> dict[str, int]:
        with self.lock:
            out: dict[str, int] = {}
            for sub in self.submissions.values():
                out[sub.state] = out.get(sub.state, 0) + 1
            return out

    def all_done(self) -> bool:
        with self.lock:
            return all(s.state in DONE for s in self.submissions.values())

    # -- request handling (called by the handler under self.lock) ---------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and re.fullmatch(fault.pattern, path) and fault.times > 0:
                fault.times -= 1
                return fault
        return None


def _sub_view(portal: FakePortal, sub: Submission) -> dict:
    a = portal.assignments[sub.assignment_id]
    return {
        "id": sub.id, "attempt": sub.attempt, "state": sub.state, "filename": sub.filename,
        "sha256": hashlib.sha256(sub.data).hexdigest(),
        "assignment": {"id": a.id, "slug": a.slug, "bundle_digest": a.bundle_digest, "queue": a.queue},
    }


class _Handler(BaseHTTPRequestHandler):
    portal: FakePortal
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        import socket as _socket

        # headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)

    def _send(self, status: int, payload=None, raw: bytes | None = None,
              ctype: str = "application/json") -> None:
        body = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        portal = self.portal
        url = urlparse(self.path)
        path = url.path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self._send(401, {"error": "missing worker token"})
        if not hmac.compare_digest(auth[len("Bearer "):], portal.token):
            return self._send(403, {"error": "not a worker token"})
        if method in ("POST", "PUT"):
            want = "sha256=" + hmac.new(portal.token.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(self.headers.get("X-Dlgrade-Signature", ""), want):
                return self._send(401, {"error": "bad signature"})
        with portal.lock:
            fault = portal._take_fault(method, path)
            if fault is not None and not fault.after:
                portal.requests.append((method, path, fault.status))
                return self._send(fault.status, {"error": "injected"})
            status, payload, raw, ctype = self._route(method, path, parse_qs(url.query), body)
            if fault is not None:
                status, payload, raw = fault.status, {"error": "injected after handling"}, None
            portal.requests.append((method, path, status))
        self._send(status, payload, raw, ctype)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _route(self, method: str, path: str, query: dict, body: bytes):
        p = self.portal
        j = "application/json"
        m = re.fullmatch(r"/api/worker/submissions/(\d+)(/file|/progress|/result|/failure)?", path)
        if m:
            sub = p.submissions.get(int(m.group(1)))
            if sub is None:
                return 404, {"error": "no such submission"}, None, j
            what = m.group(2)
            if method == "GET" and what is None:
                return 200, _sub_view(p, sub), None, j
            if method == "GET" and what == "/file":
                return 200, None, sub.data, "application/octet-stream"
            if method == "POST":
                data = json.loads(body)
                attempt = int(data["attempt"])
                if attempt > sub.attempt or attempt < 1:
                    sub.result_posts.append((attempt, "409"))
                    return 409, {"error": "unknown attempt"}, None, j
                if what == "/progress":
                    if attempt == sub.attempt and sub.state in ("queued", "running"):
                        sub.state = "running"
                        sub.updated = time.monotonic()
                    sub.progress.append(data)
                    return 200, {"ok": True}, None, j
                if what == "/result":
                    if attempt in sub.results:
                        sub.result_posts.append((attempt, "duplicate"))
                        return 200, {"stored": False, "duplicate": True}, None, j
                    sub.results[attempt] = data["result"]
                    sub.result_at[attempt] = time.time()
                    sub.result_posts.append((attempt, "stored"))
                    if attempt == sub.attempt:
                        status = data["result"].get("status", "graded")
                        sub.state = status if status in DONE else "graded"
                        sub.updated = time.monotonic()
                    return 200, {"stored": True}, None, j
                if what == "/failure":
                    sub.failures.append(data)
                    if attempt == sub.attempt and attempt not in sub.results:
                        sub.updated = time.monotonic()
                        if data.get("final"):
                            sub.state = "error"
                    return 200, {"ok": True}, None, j
        m = re.fullmatch(r"/api/worker/bundles/([0-9a-f]{64})", path)
        if m:
            if method == "GET":
                data = p.bundles.get(m.group(1))
                return (404, {"error": "no such bundle"}, None, j) if data is None else (200, None, data, "application/gzip")
            if method == "PUT":
                if hashlib.sha256(body).hexdigest() != m.group(1):
                    return 400, {"error": "digest mismatch"}, None, j
                p.bundles[m.group(1)] = body
                return 200, {"stored": True}, None, j
        m = re.fullmatch(r"/api/worker/releases/([0-9a-f]{64})", path)
        if m and method == "PUT":
            if hashlib.sha256(body).hexdigest() != m.group(1):
                return 400, {"error": "digest mismatch"}, None, j
            p.releases[m.group(1)] = body
            return 200, {"stored": True}, None, j
        m = re.fullmatch(r"/api/worker/assignments/(\d+)(/package|/gate)?", path)
        if m:
            a = p.assignments.get(int(m.group(1)))
            if a is None:
                return 404, {"error": "no such assignment"}, None, j
            if method == "GET" and m.group(2) is None:
                digest = hashlib.sha256(a.package).hexdigest() if a.package else None
                state = "queued" if a.attempt not in a.gate_reports else (
                    "passed" if a.gate_reports[a.attempt]["passed"] else "failed")
                return 200, {"id": a.id, "slug": a.slug, "package_digest": digest, "attempt": a.attempt,
                             "gate_state": state, "queue": a.queue, "early_gate_passed": a.early_gate_passed}, None, j
            if method == "GET" and m.group(2) == "/package":
                return 200, None, a.package or b"", "application/gzip"
            if method == "POST" and m.group(2) == "/gate":
                data = json.loads(body)
                a.gate_reports.setdefault(int(data["attempt"]), data)
                if data.get("passed") and data.get("bundle_digest"):
                    a.bundle_digest = data["bundle_digest"]
                return 200, {"stored": True}, None, j
        m = re.fullmatch(r"/api/worker/trusted-runs/([0-9a-f]{64})(/archive|/[0-9a-f]{64})?", path)
        if m:
            key, rest = m.group(1), m.group(2)
            digest = p.trusted_runs.get(key)
            if method == "GET" and rest is None:
                return (404, {"error": "no such trusted run"}, None, j) if digest is None else (
                    200, {"digest": digest}, None, j)
            if method == "GET" and rest == "/archive":
                data = p.blobs.get(digest or "")
                return (404, {"error": "no archive"}, None, j) if data is None else (200, None, data, "application/gzip")
            if method == "PUT" and rest and rest != "/archive":
                if hashlib.sha256(body).hexdigest() != rest[1:]:
                    return 400, {"error": "digest mismatch"}, None, j
                intact = digest is not None and hashlib.sha256(p.blobs.get(digest, b"")).hexdigest() == digest
                if intact:
                    return 200, {"stored": False, "digest": digest}, None, j
                p.blobs[rest[1:]] = body
                p.trusted_runs[key] = rest[1:]
                return 200, {"stored": True, "digest": rest[1:]}, None, j
        if method == "POST" and path == "/api/worker/workers/heartbeat":
            p.heartbeats.append(json.loads(body))
            return 200, {"ok": True}, None, j
        if method == "GET" and path == "/api/worker/stuck":
            older = float(query.get("older_than_s", ["900"])[0])
            now = time.monotonic()
            stuck = [{"id": s.id, "attempt": s.attempt, "queue": p.queue_of(s.id),
                      "state": s.state, "age_s": round(now - s.updated, 3)}
                     for s in p.submissions.values()
                     if s.state in ("queued", "running") and now - s.updated >= older]
            return 200, {"submissions": stuck}, None, j
        return 404, {"error": f"no route {method} {path}"}, None, j
