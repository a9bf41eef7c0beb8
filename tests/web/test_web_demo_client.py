"""`make demo`'s last step (infra/scripts/demo_client.py) against a live portal: one line per
assignment, and a clear one, with how to start it, for each that waits for a GPU worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_web_browser import live_server  # noqa: F401  (fixture)
from web.security import issue_token

REPO = Path(__file__).resolve().parents[2]


def test_demo_client_says_which_assignments_wait_for_a_gpu_worker(live_server, session, make_user, course,  # noqa: F811
                                                                 make_student, make_assignment):
    make_assignment("backprop")
    make_assignment("kv_cache", queue="gpu", released=False, gate_passed=None,  # passed on cpu, as record_gate keeps it
                    early_gate_queue="cpu", early_gate_passed=True)
    make_assignment("lsq", released=False, gate_passed=False)
    _, student_token = issue_token(kind="user", user_id=make_student(email="alice@example.edu").id, name="demo")
    _, staff_token = issue_token(kind="user", user_id=make_user("ta", course).id, name="demo-ta")
    session.commit()
    out = subprocess.run([sys.executable, str(REPO / "infra" / "scripts" / "demo_client.py"), "--portal", live_server,
                          "--token", student_token, "--staff-token", staff_token, "--timeout", "60"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "  released: backprop (queue cpu)" in lines
    assert "  gate failed: lsq; the report is on its page for the TA" in lines
    gpu = next(line for line in lines if "kv_cache" in line)
    assert gpu.startswith("  NOT RELEASED: kv_cache: its correctness checks passed on a cpu worker; the release gate "
                          "is waiting for a GPU worker: none has connected yet; start one "
                          "on a host with 1 GPU: DLGRADE_GPUS=0 "), gpu
    assert "celery -A autograder.worker.app worker" in gpu
    assert "released: backprop; submitting" in out.stdout
