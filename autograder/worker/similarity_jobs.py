"""A similarity review run, as named steps (CONTRACT.md, `dlgrade.run_similarity`).

Re-read the run from the portal (a run already reported, or gone, costs one GET); claim it;
fetch the assignment's grader bundle (its source notebook says which cells are solutions and
what the starter holds) and every listed upload, each checked against its sha256; compare
them with the engine (`autograder.similarity`), posting progress (which is also the job's
heartbeat); post the report, or what went wrong. Celery-free: tasks.py wraps it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from autograder.similarity import compare, report_data
from autograder.worker.claimed import claimed, report_once, running
from autograder.worker.context import WorkerContext
from autograder.worker.jobs import UPLOAD_SUFFIXES, _portal_get
from autograder.worker.portal import PortalRefused

FINISHED = ("done", "failed")


def run_path(assignment_id: int, attempt: int) -> str:
    return f"/api/worker/assignments/{assignment_id}/similarity/{attempt}"


def similarity_job(ctx: WorkerContext, assignment_id: int, attempt: int, *, task_id: str) -> str:
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
    with claimed(ctx, "similarity", assignment_id, attempt, task_id=task_id) as claim, \
            running(claim, f"{base}/progress") as (reporter, workdir):
        payload = report_once(claim, what="review", report_path=f"{base}/report",
                              work=lambda: _review(ctx, info, workdir, attempt, reporter.update),
                              error=lambda message, detail: _error(ctx, attempt, message, detail))
    if payload is None:
        return "refused"
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
