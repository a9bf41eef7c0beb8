"""The demo's TA and student: the TA waits until every assignment's gate has passed (released),
failed, or waits for a kind of worker this machine does not run (a GPU worker on a machine
without one) and prints one line for each; the student then submits the instructor's filled
notebook and a broken one through the JSON API and prints what the portal shows."""

import argparse
import json
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--portal", required=True)
    parser.add_argument("--token", required=True, help="a student's API token")
    parser.add_argument("--staff-token", required=True, help="a TA's API token")
    parser.add_argument("--timeout", type=float, default=1200)
    options = parser.parse_args()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {options.token.strip()}"
    deadline = time.monotonic() + options.timeout

    def get(path):
        response = session.get(options.portal + "/api" + path, timeout=30)
        response.raise_for_status()
        return response.json()

    while True:
        try:
            course = get("/me")["courses"][0]
            break
        except (requests.ConnectionError, requests.HTTPError, IndexError):
            if time.monotonic() > deadline:
                print("the portal did not come up; see var/demo/portal.log")
                return 1
            time.sleep(1)
    staff = requests.Session()
    staff.headers["Authorization"] = f"Bearer {options.staff_token.strip()}"
    print(f"waiting for the release gates of {course['title']} (the worker runs them one by one) ...", flush=True)
    assignments = wait_for_gates(staff, f"{options.portal}/api/courses/{course['id']}", deadline)
    for line in gate_lines(assignments):
        print(line, flush=True)
    released = next((a for a in assignments if a.get("released")), None)
    if released is None:
        print("no assignment released yet; the gates go on in the background (var/demo/worker.log)")
        return 0
    slug = released["slug"]
    print(f"released: {slug}; submitting the filled notebook and a broken one as alice", flush=True)
    submitted = []
    for name, data in (("filled.ipynb", (REPO / "assignments" / slug / "source.ipynb").read_bytes()),
                       ("broken.ipynb", b'{"cells": 3}')):
        response = session.post(f"{options.portal}/api/assignments/{released['id']}/submissions",
                                files={"notebook": (name, data)}, timeout=60)
        print(f"  {name}: HTTP {response.status_code} {json.dumps(response.json())[:300]}")
        if response.status_code == 201:
            submitted.append(response.json()["id"])
    for submission_id in submitted:
        while True:
            status = get(f"/submissions/{submission_id}")
            if status["state"] in ("graded", "rejected", "error") or time.monotonic() > deadline:
                break
            time.sleep(2)
        print(f"  submission {submission_id}: {status['state']}, score {status.get('score')}")
    return 0


def settled(assignment: dict) -> bool:
    """Released, failed, or passed on a CPU worker and waiting for a kind of worker that is not
    online (a GPU package). Waiting for the CPU worker the demo has just started is not settled."""
    return bool(assignment.get("released") or assignment.get("gate_passed") is False
                or (assignment.get("gate_waiting_for") and assignment.get("early_gate_passed")))


def wait_for_gates(staff: requests.Session, course_url: str, deadline: float, poll_s: float = 5) -> list[dict]:
    while True:
        response = staff.get(course_url, timeout=30)
        response.raise_for_status()
        assignments = response.json().get("assignments", [])
        if all(settled(a) for a in assignments) or time.monotonic() > deadline:
            return assignments
        time.sleep(poll_s)


def gate_lines(assignments: list[dict]) -> list[str]:
    """One line per assignment: released, its gate failed, or what it waits for and how to start it."""
    lines = []
    for a in assignments:
        if a.get("released"):
            lines.append(f"  released: {a['slug']} (queue {a.get('queue')})")
        elif a.get("gate_passed") is False:
            lines.append(f"  gate failed: {a['slug']}; the report is on its page for the TA")
        elif a.get("gate_waiting_for"):
            checked = (f"its correctness checks passed on a {a['early_gate_queue']} worker; the release gate is "
                       if a.get("early_gate_passed") else "")
            lines.append(f"  NOT RELEASED: {a['slug']}: {checked}{a['gate_waiting_for']}; "
                         f"start one {a.get('start_worker')}")
        else:
            lines.append(f"  still gating: {a['slug']} (the worker is on it; see var/demo/worker.log)")
    return lines


if __name__ == "__main__":
    sys.exit(main())
