"""The demo's student: waits for an assignment to be released, submits the instructor's
filled notebook and a broken one through the JSON API, and prints what the portal shows."""

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
    parser.add_argument("--token", required=True)
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
    print(f"waiting for the worker's gate to release an assignment of {course['title']} ...", flush=True)
    released = None
    while released is None:
        assignments = get(f"/courses/{course['id']}").get("assignments", [])
        released = next((a for a in assignments if a.get("released")), None)
        if released is None:
            if time.monotonic() > deadline:
                print("no assignment released yet; the gates go on in the background (var/demo/worker.log)")
                return 0
            time.sleep(5)
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


if __name__ == "__main__":
    sys.exit(main())
