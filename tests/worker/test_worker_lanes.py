"""A GPU worker hands the engine a lane count (autograder/worker/lanes.py) sized from what it
grants the job, the way it hands it the job's GPUs: a real worker owning two GPUs (by index;
the stand-in needs none) and the stand-in engine, which reports the `run_lanes` it got."""

from __future__ import annotations

import pytest

from worker_helpers import add_standin_submission, wait_for

BUNDLE_TOML = 'schema = 1\nslug = "lanes"\n\n[resources]\ngpus = 1\nmemory_mb = 16384\n'


@pytest.mark.redis
def test_a_gpu_job_gets_the_configured_lanes_within_its_share_of_the_workers_memory(
        workers, portal, producer):
    from worker_standins import make_bundle

    digest = portal.add_bundle(make_bundle({"assignment.toml": BUNDLE_TOML}))
    assignment = portal.add_assignment("lanes", digest, gpus=1)
    # 96 GiB for two GPUs: 48 GiB a job, three runs of 16 GiB, though four were asked for
    workers.start("g2", concurrency=None, DLGRADE_RUN_LANES="4", DLGRADE_RUNS_MEMORY_MB=str(96 * 1024),
                  DLGRADE_GPUS="0,1")
    sid = add_standin_submission(portal, assignment, sleep=0.1)
    producer.grade(sid, queue="gpu")
    wait_for(portal.all_done, 60, f"the job\n{workers.dump_logs()}")
    result = portal.submissions[sid].results[1]
    assert result["standin"]["run_lanes"] == 3, result["standin"]
