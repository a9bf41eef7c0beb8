"""What workers share in Redis besides the queues: job claims, delivery counters, metrics.

None of it is the source of truth (the portal's database is): if Redis loses everything, a
claim or a counter starts again from nothing and the sweeper re-enqueues what the portal
still shows as queued or running.

- `dlgrade:claim:<kind>:<id>:<attempt>` = "<host>:<pid>:<task id>", with a TTL renewed by
  the job's heartbeat: a job runs in one place at a time. A claim whose holder died on this
  host (its pid is gone) is taken over at once; elsewhere it lapses after its TTL.
- `dlgrade:deliveries:<kind>:<id>:<attempt>`: how many times the job was started. A job
  that kills its worker (OOM, segfault, hard time limit) is redelivered; after
  `max_deliveries` starts it is failed for staff instead of being started again.
- `dlgrade:ended:<kind>:<id>:<attempt>`: the last start that ended by reporting a failure,
  so the next start can tell a killed run (recorded for staff) from a retried one.
- `dlgrade:metrics:*`: counters and grading-time histograms (see metrics.py).
"""

from __future__ import annotations

import os
import socket

import redis

from autograder.sandbox.leftovers import pid_alive

CLAIM_PREFIX = "dlgrade:claim:"
DELIVERY_TTL_S = 14 * 86400

GRADE_BUCKETS_S = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end
return 0
"""
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1
end
return 0
"""


class SharedState:
    def __init__(self, url: str):
        self.redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
                                          health_check_interval=30)
        self.host = socket.gethostname()

    # -- claims ------------------------------------------------------------------------
    def owner(self, task_id: str) -> str:
        return f"{self.host}:{os.getpid()}:{task_id}"

    @staticmethod
    def claim_key(kind: str, ident: int, attempt: int) -> str:
        return f"{CLAIM_PREFIX}{kind}:{ident}:{attempt}"

    def claim(self, key: str, owner: str, ttl_s: int) -> str | None:
        """Take the claim; returns None on success, else the current holder."""
        if self.redis.set(key, owner, nx=True, ex=ttl_s):
            return None
        holder = (self.redis.get(key) or b"").decode()
        if not holder:
            return None if self.redis.set(key, owner, nx=True, ex=ttl_s) else "?"
        host, _, rest = holder.partition(":")
        pid_text = rest.split(":", 1)[0]
        if host == self.host and pid_text.isdigit() and not pid_alive(int(pid_text)):
            if self.redis.eval(_TAKE_OVER, 1, key, holder, owner, ttl_s):
                return None
        return holder

    def renew(self, key: str, owner: str, ttl_s: int) -> bool:
        """Extend our claim, or take it again if Redis lost it (restart); False if another
        job holds it now."""
        return bool(self.redis.eval(_RENEW, 1, key, owner, ttl_s))

    def release(self, key: str, owner: str) -> None:
        self.redis.eval(_RELEASE, 1, key, owner)

    def unacked(self) -> list[tuple[bytes, float]]:
        """Messages reserved by workers (kombu's `unacked` hash), with their delivery time."""
        entries = self.redis.hgetall("unacked")
        if not entries:
            return []
        pipe = self.redis.pipeline()
        for tag in entries:
            pipe.zscore("unacked_index", tag)
        return [(raw, float(when or 0.0)) for raw, when in zip(entries.values(), pipe.execute())]

    def live_claims(self) -> set[tuple[str, int, int]]:
        out = set()
        for key in self.redis.scan_iter(match=CLAIM_PREFIX + "*", count=500):
            kind, ident, attempt = key.decode()[len(CLAIM_PREFIX):].split(":")
            out.add((kind, int(ident), int(attempt)))
        return out

    # -- delivery counters -------------------------------------------------------------
    def count_delivery(self, kind: str, ident: int, attempt: int) -> int:
        key = f"dlgrade:deliveries:{kind}:{ident}:{attempt}"
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, DELIVERY_TTL_S)
        return int(pipe.execute()[0])

    def note_start_ended(self, kind: str, ident: int, attempt: int, delivery: int) -> None:
        """Start `delivery` ended on its own (a failure it reported), not killed."""
        self.redis.set(f"dlgrade:ended:{kind}:{ident}:{attempt}", delivery, ex=DELIVERY_TTL_S)

    def start_was_lost(self, kind: str, ident: int, attempt: int, delivery: int) -> bool:
        """Start `delivery` neither finished nor reported a failure: its process was killed."""
        ended = self.redis.get(f"dlgrade:ended:{kind}:{ident}:{attempt}")
        return ended is None or int(ended) != delivery

    def uncount_delivery(self, kind: str, ident: int, attempt: int) -> None:
        """A start that did no work (no free GPU yet) does not count against the job."""
        self.redis.decr(f"dlgrade:deliveries:{kind}:{ident}:{attempt}")

    # -- metrics -----------------------------------------------------------------------
    def count_job(self, state: str, n: int = 1) -> None:
        self.redis.hincrby("dlgrade:metrics:jobs", state, n)

    def observe_grading(self, assignment: str, seconds: float) -> None:
        key = f"dlgrade:metrics:grade_seconds:{assignment}"
        pipe = self.redis.pipeline()
        for bound in GRADE_BUCKETS_S:
            if seconds <= bound:
                pipe.hincrby(key, f"le:{bound}", 1)
        pipe.hincrby(key, "le:+Inf", 1)
        pipe.hincrbyfloat(key, "sum", seconds)
        pipe.hincrby(key, "count", 1)
        pipe.sadd("dlgrade:metrics:assignments", assignment)
        pipe.execute()

    def note_queue(self, queue: str) -> None:
        self.redis.sadd("dlgrade:metrics:queues", queue)
