"""Worker endpoints, exactly as autograder/worker/CONTRACT.md (version 1) says.

Only worker tokens (403 otherwise); every POST/PUT body signed with HMAC-SHA256 keyed by the
token (401 otherwise). Result posting is idempotent per (submission, attempt)."""

from __future__ import annotations

import hashlib
import re

from flask import Blueprint, Response, abort, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from .. import operations, services, store
from ..db import db
from ..models import Assignment, Submission, TrustedRun
from ..security import require_worker
from ..tasks import client as task_client

bp = Blueprint("worker_api", __name__, url_prefix="/api/worker")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="The body must be a JSON object.")
    return body


def _int(body: dict, key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        abort(400, description=f"'{key}' must be a non-negative integer.")
    return value


def _sub(submission_id: int) -> Submission:
    sub = db.session.get(Submission, submission_id)
    if sub is None:
        abort(404)
    return sub


@bp.get("/submissions/<int:submission_id>")
@require_worker
def submission(submission_id: int):
    sub = _sub(submission_id)
    a = sub.assignment
    db.session.commit()
    return jsonify(id=sub.id, attempt=sub.attempt, state=sub.state, filename=sub.filename, sha256=sub.sha256,
                   assignment={"id": a.id, "slug": a.slug, "bundle_digest": a.bundle_digest, "queue": a.queue})


@bp.get("/submissions/<int:submission_id>/file")
@require_worker
def submission_file(submission_id: int):
    sub = _sub(submission_id)
    db.session.commit()
    return Response(store().get(sub.sha256), mimetype="application/octet-stream")


@bp.get("/bundles/<digest>")
@require_worker
def get_bundle(digest: str):
    if not store().exists(digest):
        abort(404)
    db.session.commit()
    return Response(store().get(digest), mimetype="application/gzip")


def _store_by_digest(digest: str):
    data = request.get_data()
    if hashlib.sha256(data).hexdigest() != digest:
        return jsonify(error="the body's sha256 does not match the digest in the URL"), 400
    store().put(data)
    db.session.commit()
    return jsonify(stored=True)


@bp.put("/bundles/<digest>")
@require_worker
def put_bundle(digest: str):
    return _store_by_digest(digest)


@bp.put("/releases/<digest>")
@require_worker
def put_release(digest: str):
    """The student release a passed gate built (CONTRACT.md); students get exactly these bytes."""
    return _store_by_digest(digest)


# --- trusted runs shared by the workers (autograder/worker/trusted_share.py) ------------------

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _trusted(key: str) -> TrustedRun:
    if not _SHA256.fullmatch(key):
        abort(404)
    return db.session.get(TrustedRun, key) or abort(404)


def _intact(run: TrustedRun | None) -> bool:
    return (run is not None and store().exists(run.digest)
            and hashlib.sha256(store().get(run.digest)).hexdigest() == run.digest)


@bp.get("/trusted-runs/<key>")
@require_worker
def trusted_run(key: str):
    run = _trusted(key)
    db.session.commit()
    return jsonify(digest=run.digest, size=run.size, worker=run.worker)


@bp.get("/trusted-runs/<key>/archive")
@require_worker
def trusted_run_archive(key: str):
    """The stored bytes as they are: the worker checks them against the digest above."""
    run = _trusted(key)
    db.session.commit()
    if not store().exists(run.digest):
        abort(404)
    return Response(store().get(run.digest), mimetype="application/gzip")


@bp.put("/trusted-runs/<key>/<digest>")
@require_worker
def put_trusted_run(key: str, digest: str):
    """The first archive published for `key` is kept; a later one replaces it only when the
    stored archive is gone or no longer hashes to its digest."""
    if not _SHA256.fullmatch(key):
        abort(404)
    data = request.get_data()
    if hashlib.sha256(data).hexdigest() != digest:
        return jsonify(error="the body's sha256 does not match the digest in the URL"), 400
    run = db.session.get(TrustedRun, key)
    if _intact(run):
        db.session.commit()
        return jsonify(stored=False, digest=run.digest)
    store().put(data)
    run = run or TrustedRun(key=key)
    run.digest, run.size, run.worker = digest, len(data), request.args.get("worker", "")[:200]
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:  # another worker published the same key at the same moment
        db.session.rollback()
        return jsonify(stored=False, digest=db.session.get(TrustedRun, key).digest)
    return jsonify(stored=True, digest=digest)


@bp.post("/submissions/<int:submission_id>/progress")
@require_worker
def progress(submission_id: int):
    body = _body()
    _sub(submission_id)
    try:
        services.record_progress(db.session, submission_id=submission_id, attempt=_int(body, "attempt"),
                                 worker=str(body.get("worker", "")), part=body.get("part"),
                                 done=int(body.get("done") or 0), total=int(body.get("total") or 0))
    except services.UnknownAttempt:
        return jsonify(error="unknown attempt"), 409
    return jsonify(ok=True)


@bp.post("/submissions/<int:submission_id>/result")
@require_worker
def result(submission_id: int):
    body = _body()
    _sub(submission_id)
    if not isinstance(body.get("result"), dict):
        abort(400, description="'result' must be the result JSON object.")
    try:
        stored = services.record_result(db.session, submission_id=submission_id, attempt=_int(body, "attempt"),
                                        worker=str(body.get("worker", "")), result=body["result"])
    except services.UnknownAttempt:
        return jsonify(error="unknown attempt"), 409
    return jsonify(stored=True) if stored else jsonify(stored=False, duplicate=True)


@bp.post("/submissions/<int:submission_id>/failure")
@require_worker
def failure(submission_id: int):
    body = _body()
    _sub(submission_id)
    try:
        services.record_failure(db.session, submission_id=submission_id, attempt=_int(body, "attempt"),
                                worker=str(body.get("worker", "")), message=str(body.get("message", "")),
                                detail=str(body.get("detail", "")), final=bool(body.get("final")))
    except services.UnknownAttempt:
        return jsonify(error="unknown attempt"), 409
    return jsonify(ok=True)


@bp.get("/assignments/<int:assignment_id>")
@require_worker
def assignment(assignment_id: int):
    a = db.session.get(Assignment, assignment_id) or abort(404)
    db.session.commit()
    # queue: what the gate was sent to; early_gate_passed: the package's correctness gate already
    # passed on another queue, so a GPU worker gates only what it alone can measure (perf parts)
    gate_state = "pending" if a.gate_passed is None else "passed" if a.gate_passed else "failed"
    return jsonify(id=a.id, slug=a.slug, package_digest=a.package_sha256, attempt=a.gate_attempt,
                   gate_state=gate_state, queue=a.queue, early_gate_passed=bool(a.early_gate_passed))


@bp.get("/assignments/<int:assignment_id>/package")
@require_worker
def package(assignment_id: int):
    a = db.session.get(Assignment, assignment_id) or abort(404)
    db.session.commit()
    return Response(store().get(a.package_sha256), mimetype="application/gzip")


@bp.post("/assignments/<int:assignment_id>/gate")
@require_worker
def gate(assignment_id: int):
    body = _body()
    db.session.get(Assignment, assignment_id) or abort(404)
    ok = services.record_gate(db.session, store(), task_client(), assignment_id=assignment_id,
                              attempt=_int(body, "attempt"),
                              passed=bool(body.get("passed")), report=body.get("report"),
                              bundle_digest=str(body.get("bundle_digest") or ""), worker=str(body.get("worker", "")))
    if not ok:
        return jsonify(error="unknown or outdated gate attempt"), 409
    return jsonify(stored=True)


@bp.post("/workers/heartbeat")
@require_worker
def heartbeat():
    """A worker announces itself: queues, GPUs, slots, engine version (announce.py)."""
    try:
        operations.record_heartbeat(db.session, _body())
    except operations.BadHeartbeat as exc:
        db.session.rollback()
        abort(400, description=str(exc))
    return jsonify(ok=True)


@bp.get("/stuck")
@require_worker
def stuck():
    """For the sweeper (autograder/worker/sweeper.py): current attempts queued or running
    without news for `older_than_s`, and running ones whose worker's heartbeats stopped."""
    from ..db import utcnow

    try:
        older_than_s = max(0, int(request.args["older_than_s"]))
    except (KeyError, ValueError):
        abort(400, description="older_than_s must be an integer number of seconds")
    found = operations.stuck_submissions(db.session, utcnow(), older_than_s=older_than_s,
                                         offline_after_s=current_app.config["WORKER_OFFLINE_AFTER_S"])
    db.session.commit()
    return jsonify(submissions=[{"id": s.id, "attempt": s.attempt, "queue": s.queue, "state": s.state,
                                 "worker": s.worker, "updated_at": s.updated_at.isoformat(), "reason": reason}
                                for s, reason in found])


# --- similarity review (dlgrade.run_similarity) ----------------------------------------------

def _similarity_run(assignment_id: int, attempt: int):
    from .. import similarity

    return similarity.run_for(db.session, assignment_id, attempt) or abort(404)


@bp.get("/assignments/<int:assignment_id>/similarity/<int:attempt>")
@require_worker
def similarity_run(assignment_id: int, attempt: int):
    from .. import similarity

    run = _similarity_run(assignment_id, attempt)
    a = run.assignment
    subs = similarity.submissions_to_compare(db.session, run)
    db.session.commit()
    return jsonify(attempt=run.attempt, state=run.state, include_earlier=run.include_earlier,
                   assignment={"id": a.id, "slug": a.slug, "bundle_digest": a.bundle_digest},
                   submissions=[{"id": s.id, "filename": s.filename, "sha256": s.sha256} for s in subs])


@bp.post("/assignments/<int:assignment_id>/similarity/<int:attempt>/progress")
@require_worker
def similarity_progress(assignment_id: int, attempt: int):
    from .. import similarity

    body = _body()
    run = _similarity_run(assignment_id, attempt)
    if _int(body, "attempt") != attempt:
        abort(400, description="'attempt' differs from the run in the URL.")
    if not similarity.record_progress(db.session, run, worker=str(body.get("worker", "")),
                                      phase=str(body.get("test") or ""), done=_int(body, "done"),
                                      total=_int(body, "total")):
        return jsonify(error="the run is finished"), 409
    return jsonify(ok=True)


@bp.post("/assignments/<int:assignment_id>/similarity/<int:attempt>/report")
@require_worker
def similarity_report(assignment_id: int, attempt: int):
    from .. import similarity

    body = _body()
    run = _similarity_run(assignment_id, attempt)
    report = body.get("report")
    if report is not None and not isinstance(report, dict):
        abort(400, description="'report' must be an object.")
    try:
        stored = similarity.record_report(db.session, run, worker=str(body.get("worker", "")), report=report,
                                          error=str(body.get("error") or ""))
    except (KeyError, TypeError, ValueError) as exc:
        db.session.rollback()
        abort(400, description=f"the report does not follow CONTRACT.md: {exc}")
    if not stored:
        return jsonify(error="this run is already finished or was replaced"), 409
    return jsonify(stored=True)
