"""A similarity review end to end: the real portal (web.create_app on SQLite, over HTTP), a
private Redis, a real `celery worker` process and the real engine. Staff start a run → the
portal enqueues dlgrade.run_similarity → the worker lists the counted submissions, downloads
them and the grader bundle, compares them, posts progress and the report → the portal's
ranking has the copied pair on top."""

from __future__ import annotations

import datetime as dt

import pytest
from test_worker_portal_integration import real_portal  # noqa: F401  (the fixture)

from worker_helpers import ROOT, wait_for

pytestmark = pytest.mark.redis

CORPUS = ROOT / "tests" / "similarity_corpus" / "kv_cache"


def test_similarity_review_through_the_real_portal_and_worker(real_portal, workers, tmp_path):  # noqa: F811
    from autograder.bundle import write_bundle
    from autograder.package import load_assignment
    from web import similarity
    from web.db import db, utcnow
    from web.models import Assignment, Course, Membership, SimilarityRun, Submission, User
    from web.security import issue_token

    app, url = real_portal
    session = db.session
    store, tasks = app.extensions["dlgrade_store"], app.extensions["dlgrade_tasks"]
    _, token = issue_token(kind="worker", user_id=None, name="similarity worker")
    course = Course(slug="dlsys", title="Efficient DL Systems", late_days=3)
    session.add(course)
    session.commit()
    bundle_path, digest = write_bundle(load_assignment(ROOT / "assignments" / "kv_cache"), tmp_path / "bundle")
    assert store.put(bundle_path.read_bytes()) == digest
    assignment = Assignment(course_id=course.id, slug="kv_cache", title="KV cache", state="released",
                            bundle_digest=digest, gate_passed=True, gate_attempt=1,
                            deadline=utcnow() + dt.timedelta(days=1), released_at=utcnow())
    session.add(assignment)
    session.commit()
    uploads = {"reference.ipynb": "ref", "independent.ipynb": "ind", "copy_everything.ipynb": "cop",
               "copy_renamed.ipynb": "ren"}
    ids = {}
    for number, (name, who) in enumerate(uploads.items()):
        user = User(email=f"{who}@example.edu", name=who, password_hash="x", sis_id=str(number))
        session.add(user)
        session.flush()
        session.add(Membership(user_id=user.id, course_id=course.id, role="student"))
        data = (CORPUS / name).read_bytes()
        sub = Submission(assignment_id=assignment.id, user_id=user.id, filename=name, sha256=store.put(data),
                         size=len(data), state="graded", score=1.0, max_score=1.0)
        session.add(sub)
        session.commit()
        ids[who] = sub.id
    # a submission still queued is not the counted one and is not compared
    pending = Submission(assignment_id=assignment.id, user_id=sub.user_id, filename="late.ipynb",
                         sha256=store.put(b"{}"), size=2, state="queued")
    session.add(pending)
    session.commit()

    workers.start("w1", concurrency=1, DLGRADE_PORTAL_URL=url, DLGRADE_WORKER_TOKEN=token,
                  DLGRADE_UNPACK_FUNCTION="autograder.bundle:unpack")
    run = similarity.start_run(session, tasks, assignment=assignment, include_earlier=False, by_user_id=None)
    run_id = run.id

    def finished():
        session.expire_all()
        return session.get(SimilarityRun, run_id).state in ("done", "failed")

    wait_for(finished, 240, f"the similarity report\n{workers.dump_logs()}", poll_s=0.5)
    run = session.get(SimilarityRun, run_id)
    assert run.state == "done", run.message
    assert run.worker  # the worker named itself
    assert run.compared == 4 and run.total_pairs == 6 and set(run.cells) == {"kv_cache", "attend", "generate", "paged"}
    ranked = [({p.a_submission_id, p.b_submission_id}, p.score) for p in run.pairs]
    copies = {ids["ref"], ids["cop"], ids["ren"]}
    true_pairs = [score for pair, score in ranked if pair <= copies]
    independent = [score for pair, score in ranked if ids["ind"] in pair]
    assert len(true_pairs) == 3 and len(independent) == 3
    assert min(true_pairs) > max(independent), ranked
    top = run.pairs[0]
    assert {top.a_submission_id, top.b_submission_id} == {ids["ref"], ids["ren"]} and top.score > 0.95
    assert top.matches and set(run.sources) >= {str(ids["ref"]), str(ids["ren"])}
    assert pending.id not in {sid for pair, _ in ranked for sid in pair}


def test_a_review_that_cannot_run_is_reported_as_failed(real_portal, workers, tmp_path):  # noqa: F811
    """The bundle the assignment names is not in the portal's store: the worker reports why,
    and the run shows as failed instead of hanging."""
    from web import similarity
    from web.db import db, utcnow
    from web.models import Assignment, Course, Membership, SimilarityRun, Submission, User
    from web.security import issue_token

    app, url = real_portal
    session = db.session
    store, tasks = app.extensions["dlgrade_store"], app.extensions["dlgrade_tasks"]
    _, token = issue_token(kind="worker", user_id=None, name="similarity worker")
    course = Course(slug="dlsys", title="Efficient DL Systems", late_days=3)
    session.add(course)
    session.commit()
    assignment = Assignment(course_id=course.id, slug="kv_cache", title="KV cache", state="released",
                            bundle_digest="0" * 64, gate_passed=True, gate_attempt=1,
                            deadline=utcnow() + dt.timedelta(days=1), released_at=utcnow())
    session.add(assignment)
    session.commit()
    for number, name in enumerate(("reference.ipynb", "independent.ipynb")):
        user = User(email=f"s{number}@example.edu", name=name, password_hash="x", sis_id=str(number))
        session.add(user)
        session.flush()
        session.add(Membership(user_id=user.id, course_id=course.id, role="student"))
        data = (CORPUS / name).read_bytes()
        session.add(Submission(assignment_id=assignment.id, user_id=user.id, filename=name, sha256=store.put(data),
                               size=len(data), state="graded", score=1.0, max_score=1.0))
        session.commit()
    workers.start("w1", concurrency=1, DLGRADE_PORTAL_URL=url, DLGRADE_WORKER_TOKEN=token,
                  DLGRADE_UNPACK_FUNCTION="autograder.bundle:unpack")
    run_id = similarity.start_run(session, tasks, assignment=assignment, include_earlier=False, by_user_id=None).id

    def finished():
        session.expire_all()
        return session.get(SimilarityRun, run_id).state in ("done", "failed")

    wait_for(finished, 240, f"the failure report\n{workers.dump_logs()}", poll_s=0.5)
    run = session.get(SimilarityRun, run_id)
    assert run.state == "failed" and "000000000000" in run.message and run.pairs == []
