"""Prometheus metrics of the whole worker fleet, read from Redis.

Workers count into Redis (state.py), so any one process can serve the fleet's figures: the
worker's main process when `DLGRADE_METRICS_PORT` is set, or a standalone

    python -m autograder.worker.metrics --port 9808

Exposed (text format at /metrics):
- `dlgrade_queue_depth{queue}`: jobs waiting in each queue (the worker's own queues and every
  queue a job was seen on).
- `dlgrade_jobs_running`: jobs holding a claim right now.
- `dlgrade_jobs_total{state}`: jobs by outcome since Redis was last emptied: started, graded,
  rejected, error, failed (retried), failed_final (shown to staff), already_done, superseded,
  busy_elsewhere, rerouted, result_duplicate, result_handed_off, ...
- `dlgrade_grading_seconds{assignment}`: histogram of grading time (fetch + engine).
"""

from __future__ import annotations

import argparse
from typing import Any, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from autograder.worker.settings import load_settings, prefixed
from autograder.worker.state import GRADE_BUCKETS_S, SharedState
from autograder.worker.sweeper import PRIORITY_SEP


class FleetCollector:
    def __init__(self, settings: Mapping[str, Any]):
        self.settings = settings
        self.state = SharedState(settings["broker_url"])

    def collect(self) -> Iterator[Any]:
        r = self.state.redis
        queues = {prefixed(self.settings, q) for q in self.settings["queues"]}
        queues |= {q.decode() for q in r.smembers("dlgrade:metrics:queues")}
        depth = GaugeMetricFamily("dlgrade_queue_depth", "jobs waiting in the queue", labels=["queue"])
        for queue in sorted(queues):
            n = r.llen(queue) + sum(r.llen(f"{queue}{PRIORITY_SEP}{p}") for p in range(1, 10))
            depth.add_metric([queue], n)
        yield depth

        running = GaugeMetricFamily("dlgrade_jobs_running", "jobs holding a claim now")
        running.add_metric([], len(self.state.live_claims()))
        yield running

        jobs = CounterMetricFamily("dlgrade_jobs", "jobs by outcome", labels=["state"])
        for state, n in sorted(r.hgetall("dlgrade:metrics:jobs").items()):
            jobs.add_metric([state.decode()], int(n))
        yield jobs

        hist = HistogramMetricFamily("dlgrade_grading_seconds",
                                     "grading time of one submission", labels=["assignment"])
        for name in sorted(a.decode() for a in r.smembers("dlgrade:metrics:assignments")):
            h = {k.decode(): v for k, v in r.hgetall(f"dlgrade:metrics:grade_seconds:{name}").items()}
            buckets = [(str(float(b)), int(h.get(f"le:{b}", 0))) for b in GRADE_BUCKETS_S]
            buckets.append(("+Inf", int(h.get("le:+Inf", 0))))
            hist.add_metric([name], buckets, float(h.get("sum", 0)))
        yield hist


def registry_for(settings: Mapping[str, Any]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(settings))
    return registry


def render(settings: Mapping[str, Any]) -> str:
    return generate_latest(registry_for(settings)).decode()


def serve(settings: Mapping[str, Any], port: int, addr: str = "0.0.0.0"):
    return start_http_server(port, addr=addr, registry=registry_for(settings))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.worker.metrics")
    parser.add_argument("--port", type=int, default=9808)
    parser.add_argument("--print", action="store_true", help="print the metrics once and exit")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.print:
        print(render(settings), end="")
        return 0
    server, thread = serve(settings, args.port)
    thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
