"""Fixtures for the worker's tests: a private redis-server per test (tests kill and restart
it), the fake portal, real `celery worker` subprocesses, and a bare producer that enqueues by
task name the way the portal does. The helpers live in worker_helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_standins  # noqa: E402
from fake_portal import FakePortal  # noqa: E402
from worker_helpers import TOKEN, Producer, RedisServer, WorkerFactory  # noqa: E402


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def portal():
    p = FakePortal(token=TOKEN).start()
    yield p
    p.stop()


@pytest.fixture
def workers(tmp_path, redis_server, portal):
    factory = WorkerFactory(tmp_path, redis_server, portal)
    yield factory
    for w in factory.started:
        w.stop()


@pytest.fixture
def producer(redis_server):
    p = Producer(redis_server.url)
    yield p
    p.close()


@pytest.fixture
def standin_assignment(portal) -> int:
    digest = portal.add_bundle(worker_standins.make_bundle())
    return portal.add_assignment("standin", digest, gpus=0)
