"""Every worker setting, declared once: name, default, parser, one line of help.

`load_settings()` reads `DLGRADE_<NAME>` from the environment over the defaults and derives
the few values that depend on others (queues from GPUs, time limits from the longest run).
The engine's own settings (`DLGRADE_SANDBOX`, `DLGRADE_HARDWARE`, `DLGRADE_CACHE_DIR` for the
trusted-run cache) are declared in `autograder/config.py` and read there, not here.
`celery_config(settings)` turns that into the one plain mapping the Celery app is configured
with. Nothing here imports Celery or the engine.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Callable, Mapping

from autograder.worker.queues import queues_for_gpus


def _int_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.replace(" ", "").split(",") if part)


def _gpus(text: str) -> tuple[int, ...]:
    if text.strip().lower() == "auto":
        from autograder.worker.gpus import NoGpusFound, discover_gpus

        try:
            return discover_gpus()
        except NoGpusFound as exc:
            raise ValueError(str(exc)) from exc
    return _int_tuple(text)


def _str_tuple(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.replace(" ", "").split(",") if part)


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


# name: (default, parser, help). Environment: DLGRADE_<NAME upper-cased>.
DECLARED: dict[str, tuple[Any, Callable[[str], Any], str]] = {
    "broker_url": ("redis://127.0.0.1:6379/0", str, "Redis broker URL (also holds claims, delivery counters, metrics)"),
    "portal_url": ("http://127.0.0.1:8000", str, "base URL of the portal's worker API"),
    "worker_token": ("", str, "bearer token and HMAC key for the portal's worker API"),
    "worker_name": (socket.gethostname(), str, "name reported to the portal with every post"),
    "gpus": ((), _gpus, "GPU indices this worker owns, e.g. 0,1, or auto (every GPU nvidia-smi -L lists); empty on a CPU host"),
    "queues": ((), _str_tuple, "queues to consume; empty: cpu without GPUs, else gpu and gpu-2..gpu-<n>"),
    "queue_prefix": ("", str, "prefix of every queue name (must match the portal's QUEUE_PREFIX)"),
    "concurrency": (0, int, "jobs at once; 0: one per GPU, or cpu_slots on a CPU host"),
    "cpu_slots": (1, int, "jobs at once on a CPU-only worker when concurrency is 0"),
    "runs_memory_mb": (0, int, "memory the sandbox runs of this worker's gradings may take together, MiB (bounds a grading's lanes, worker/lanes.py); 0: the host's MemTotal, too little on a VM whose memory grows as it is used"),
    "run_dir": ("/tmp/dlgrade-worker", str, "GPU lock files and per-job scratch folders"),
    "bundle_cache_dir": (str(Path.home() / ".cache" / "dlgrade" / "bundles"), str, "grader bundles cached by digest"),
    "max_run_timeout_s": (1800, int, "the longest resources.run_timeout_s an assignment may declare"),
    "soft_time_limit_s": (0, int, "Celery soft limit of a grading task; 0: 2 * max_run_timeout_s + 300"),
    "time_limit_s": (0, int, "Celery hard limit; 0: soft limit + 120"),
    "visibility_timeout_s": (0, int, "Redis redelivers an unacked job after this; 0: hard limit + 600"),
    "restore_sweep_s": (60, int, "how often a worker looks for unacked jobs past the visibility timeout"),
    "max_deliveries": (3, int, "a job started this many times without finishing is failed for staff"),
    "heartbeat_s": (20.0, float, "progress re-posted and the job's claim renewed this often"),
    "post_inline_s": (60.0, float, "a result POST is retried in the grading task this long, then handed to dlgrade.post_result"),
    "post_give_up_s": (7 * 86400.0, float, "dlgrade.post_result stops retrying after this long"),
    "failure_retry_s": (15.0, float, "a job whose grading raised is retried after this many seconds times its delivery count"),
    "gpu_wait_s": (30.0, float, "a single-GPU job waits this long for a free GPU before it is requeued"),
    "gather_wait_s": (0.0, float, "a multi-GPU job gathers its GPUs (keeping each it gets) this long before it is requeued; 0: max_run_timeout_s"),
    # A running job posts progress every heartbeat_s (20 s): three missed posts and it is lost.
    # A queued job the broker still holds is never re-sent, however long it waits.
    "stuck_after_s": (60, int, "sweeper: re-enqueue submissions queued/running without news this long that the broker no longer holds"),
    # stuck_after_s + sweep_interval_s + the claim's 60 s bound the recovery of a lost job: 2 minutes
    "sweep_interval_s": (30, int, "sweeper loop interval"),
    "sweep_in_worker": (True, _bool, "run the sweeper loop in every worker's main process (a Redis lock makes it one sweep per interval fleet-wide)"),
    "http_timeout_s": (30.0, float, "timeout of one request to the portal"),
    "metrics_port": (0, int, "serve Prometheus metrics on this port from the worker; 0: off"),
    "share_trusted_runs": (True, _bool, "fetch the trusted runs other workers published to the portal before running a reference, and publish this worker's"),
    "keep_workdirs": (False, _bool, "keep per-job scratch folders (debugging)"),
    "similarity_pairs": (200, int, "a similarity report carries the top N pairs overall and the top N of each cell"),
}


class SettingsError(ValueError):
    pass


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Defaults, then DLGRADE_* from `environ`, then `overrides`; derived values filled in."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for name, (default, parse, _help) in DECLARED.items():
        raw = environ.get(f"DLGRADE_{name.upper()}")
        if raw is None:
            settings[name] = default
        else:
            try:
                settings[name] = parse(raw)
            except ValueError as exc:
                raise SettingsError(
                    f"DLGRADE_{name.upper()}={raw!r} is not valid ({exc}); expected: {_help}"
                ) from exc
    unknown = set(overrides) - set(DECLARED)
    if unknown:
        raise SettingsError(f"unknown worker settings {sorted(unknown)}; see settings.DECLARED")
    settings.update(overrides)
    return _derive(settings)


def _derive(s: dict[str, Any]) -> dict[str, Any]:
    if not s["queues"]:
        s["queues"] = queues_for_gpus(len(s["gpus"]))
    if not s["concurrency"]:
        s["concurrency"] = len(s["gpus"]) or s["cpu_slots"]
    if not s["gather_wait_s"]:
        s["gather_wait_s"] = float(s["max_run_timeout_s"])
    if not s["soft_time_limit_s"]:
        # the student run and the trusted run each may take max_run_timeout_s, plus set-up,
        # plus the wait of a multi-GPU job for its GPUs
        gather_s = s["gather_wait_s"] if len(s["gpus"]) > 1 else 0
        s["soft_time_limit_s"] = int(2 * s["max_run_timeout_s"] + 300 + gather_s)
    if not s["time_limit_s"]:
        s["time_limit_s"] = s["soft_time_limit_s"] + 120
    if not s["visibility_timeout_s"]:
        s["visibility_timeout_s"] = s["time_limit_s"] + 600
    if s["soft_time_limit_s"] <= s["max_run_timeout_s"]:
        raise SettingsError("soft_time_limit_s must exceed max_run_timeout_s (the sandbox kills first)")
    if s["time_limit_s"] <= s["soft_time_limit_s"]:
        raise SettingsError("time_limit_s must exceed soft_time_limit_s")
    if s["visibility_timeout_s"] <= s["time_limit_s"]:
        raise SettingsError(
            "visibility_timeout_s must exceed time_limit_s, or Redis hands a running job to a "
            "second worker"
        )
    if s["max_deliveries"] < 1:
        raise SettingsError("max_deliveries must be at least 1")
    return s


def prefixed(settings: Mapping[str, Any], queue: str) -> str:
    return f"{settings['queue_prefix']}{queue}"


def celery_config(s: Mapping[str, Any]) -> dict[str, Any]:
    """The Celery configuration: one plain mapping."""
    from kombu import Exchange, Queue

    queues = [prefixed(s, q) for q in s["queues"]]
    return {
        "broker_url": s["broker_url"],
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a Redis restart is waited out, not fatal
        "broker_transport_options": {
            "visibility_timeout": s["visibility_timeout_s"],
            "unacked_restore_interval": s["restore_sweep_s"],
            "unacked_restore_throttle": 1,
        },
        # a job that is running when the broker connection drops finishes and posts its
        # result; its ack may be lost, and the redelivery is dropped by the portal-state check
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_ignore_result": True,  # results go to the portal, not to a Celery backend
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,  # ack after the job, so a dead worker's job is redelivered
        "task_reject_on_worker_lost": True,  # ...also when the pool process is killed
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,  # never hold a job another free worker could run
        "task_soft_time_limit": s["soft_time_limit_s"],
        "task_time_limit": s["time_limit_s"],
        "worker_concurrency": s["concurrency"],
        "task_queues": [Queue(q, Exchange(q), routing_key=q) for q in queues],
        "task_default_queue": queues[0],
        "task_create_missing_queues": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }
