"""A similarity review run, as named steps (CONTRACT.md, `dlgrade.run_similarity`).

Re-read the run from the portal (a run already reported, or gone, costs one GET); claim it;
fetch the assignment's grader bundle (its source notebook says which cells are solutions and
what the starter holds) and every listed upload, each checked against its sha256; compare
them with the engine (`autograder.similarity`), posting progress (which is also the job's
heartbeat); post the report, or what went wrong. Celery-free: tasks.py wraps it.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Callable

from autograder.similarity import compare, report_data
from autograder.worker.context import WorkerContext
from autograder.worker.jobs import (UPLOAD_SUFFIXES, RetryLater, _claimed, _portal_get, _workdir,
                                    post_with_backoff)
from autograder.worker.portal import PortalRefused, PortalUnavailable
from autograder.worker.progress import ProgressReporter

log = logging.getLogger(__name__)

FINISHED = ("done", "failed")


def run_path(assignment_id: int, attempt: int) -> str:
    return f"/api/worker/assignments/{assignment_id}/similarity/{attempt}"


def similarity_job(ctx: WorkerContext, assignment_id: int, attempt: int, *, task_id: str) -> str:
    s = ctx.settings
    base = run_path(assignment_id, attempt)
    try:
        info = _portal_get(ctx, base)
    except PortalRefused as exc:
        if exc.status == 404:
            return "gone"
        raise
    if info.get("state") in FINISHED:
        ctx.state.count_job("similarity_already_done")
        return "already_done"
    with _claimed(ctx, "similarity", assignment_id, attempt, task_id) as owner:
        delivery = ctx.state.count_delivery("similarity", assignment_id, attempt)
        key = ctx.state.claim_key("similarity", assignment_id, attempt)
        reporter = ProgressReporter(ctx.portal, f"{base}/progress", attempt, s["heartbeat_s"],
                                    on_beat=lambda: ctx.state.renew(key, owner, ctx.claim_ttl_s)).start()
        try:
            with _workdir(ctx, f"sim{assignment_id}-a{attempt}-") as workdir:
                if delivery > s["max_deliveries"]:
                    payload = _error(ctx, attempt, f"the review was started {delivery - 1} times and "
                                     "never finished", "")
                else:
                    try:
                        payload = _review(ctx, info, workdir, attempt, reporter.update)
                    except Exception as exc:  # our fault or a broken bundle: staff see why
                        payload = _error(ctx, attempt, f"{type(exc).__name__}: {exc}", traceback.format_exc())
                try:
                    post_with_backoff(ctx, f"{base}/report", payload, s["post_inline_s"])
                except PortalRefused as exc:  # 409: the run was replaced or already reported
                    log.warning("portal refused the similarity report of assignment %s run %s: %s",
                                assignment_id, attempt, exc)
                    return "refused"
        except PortalUnavailable as exc:
            raise RetryLater(60, f"similarity report not delivered: {exc}") from exc
        finally:
            reporter.stop()
    outcome = "failed" if "error" in payload else "done"
    ctx.state.count_job(f"similarity_{outcome}")
    return outcome


def _error(ctx: WorkerContext, attempt: int, message: str, detail: str) -> dict:
    return {"attempt": attempt, "worker": ctx.portal.worker_name, "error": message[:2000],
            "detail": detail[-20000:]}


def _review(ctx: WorkerContext, info: dict, workdir: Path, attempt: int,
            on_progress: Callable[[dict], None]) -> dict:
    assignment_dir = ctx.bundles.assignment_dir(info["assignment"]["bundle_digest"])
    uploads = workdir / "uploads"
    uploads.mkdir()
    listed = info["submissions"]
    files, names = [], []
    for done, sub in enumerate(listed, 1):
        suffix = Path(str(sub.get("filename") or "")).suffix
        path = uploads / f"{int(sub['id'])}{suffix if suffix in UPLOAD_SUFFIXES else '.ipynb'}"
        got = ctx.portal.download(f"/api/worker/submissions/{int(sub['id'])}/file", path)
        if sub.get("sha256") and got != sub["sha256"]:
            raise RuntimeError(f"upload of submission {sub['id']} hashes to {got[:12]}, portal says "
                               f"{sub['sha256'][:12]}: the portal's file store is corrupt")
        files.append(path)
        names.append(str(int(sub["id"])))
        on_progress({"test": "download", "done": done, "total": len(listed)})

    def engine_progress(phase: str, done: int, total: int) -> None:
        on_progress({"test": phase, "done": done, "total": total})

    comparison, pairs = compare(assignment_dir, files, names=names, on_progress=engine_progress)
    on_progress({"test": "regions", "done": 0, "total": 1})
    report = report_data(comparison, pairs, detail_pairs=ctx.settings["similarity_pairs"], every_pair=False)
    report["total_pairs"] = len(pairs)
    return {"attempt": attempt, "worker": ctx.portal.worker_name, "report": report}
