"""Celery workers that grade submissions for the portal (see CONTRACT.md).

`app.py` is the Celery app (`celery -A autograder.worker.app worker`), `tasks.py` the task
names the portal enqueues, `jobs.py` what one grading job does, `sweeper.py` the re-enqueuer
that makes the portal's database the source of truth.
"""
