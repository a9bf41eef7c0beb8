"""The trusted-run share in seconds: the engine's trusted_run() with a stand-in runner that
counts reference runs, and the worker's portal-backed share against the fake portal (digest
checks, tampered, missing, portal down). The full path with real workers and real gradings is
test_worker_trusted_share.py."""

from __future__ import annotations

import hashlib
import json
import types
from pathlib import Path

import numpy as np
import pytest

from autograder.records_io import read_run
from autograder.sandbox import SandboxOutcome
from autograder.trusted_run import pack, trusted_key, trusted_run
from autograder.worker.portal import PortalClient
from autograder.worker.trusted_share import PortalTrustedRuns
from worker_helpers import TOKEN


class ReferenceRunner:
    """Stands in for SandboxRunner: each run writes one passed test with an array check."""

    def __init__(self, tmp: Path, seed: int = 7):
        reference = tmp / "reference"
        reference.mkdir(parents=True, exist_ok=True)
        (reference / "__init__.py").write_text("")
        resources = types.SimpleNamespace(test_timeout_s=20, run_timeout_s=60)
        self.setup = types.SimpleNamespace(
            assignment=types.SimpleNamespace(resources=resources, reference_dir=reference), seed=seed)
        self.tmp, self.runs = tmp, 0

    def run(self, request):
        self.runs += 1
        out = self.tmp / f"out-{self.runs}"
        (out / "arrays").mkdir(parents=True)
        np.save(out / "arrays" / "0.npy", np.arange(4.0))
        record = {"nodeid": "hidden/test_a.py::test_add", "outcome": "passed", "part": "add", "timeout_s": 5,
                  "checks": [{"name": "out", "value": {"type": "array", "file": "arrays/0.npy", "dtype": "torch.float32"}}]}
        (out / "records.jsonl").write_text(json.dumps(record) + "\n")
        outcome = SandboxOutcome(0, False, False, 1.0, "", "", out, "stand-in")
        return types.SimpleNamespace(output_dir=out), outcome, read_run(out, max_bytes=1 << 20)


class MemoryShare:
    def __init__(self):
        self.archives: dict[str, bytes] = {}

    def fetch(self, key):
        return self.archives.get(key)

    def publish(self, key, archive):
        self.archives.setdefault(key, archive)


def _cache(monkeypatch, path: Path) -> None:
    monkeypatch.setenv("DLGRADE_CACHE_DIR", str(path))


def test_a_second_machine_takes_the_shared_run_and_never_runs_the_reference(tmp_path, monkeypatch):
    share = MemoryShare()
    _cache(monkeypatch, tmp_path / "machine-1")
    one = ReferenceRunner(tmp_path / "one")
    first = trusted_run(one, bundle_digest="b" * 64, hardware="NVIDIA H200", share=share)
    assert (first.source, one.runs, len(share.archives)) == ("run", 1, 1)

    _cache(monkeypatch, tmp_path / "machine-2")
    two = ReferenceRunner(tmp_path / "two")
    second = trusted_run(two, bundle_digest="b" * 64, hardware="NVIDIA H200", share=share)
    assert (second.source, two.runs) == ("shared", 0)
    assert second.records.tests == first.records.tests
    value = second.records.load_value(second.records.tests["hidden/test_a.py::test_add"]["checks"][0]["value"])
    assert value.array.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert trusted_run(two, bundle_digest="b" * 64, hardware="NVIDIA H200", share=share).source == "cache"

    # another GPU model, seed or bundle is another key: its perf baselines are never reused
    assert trusted_run(two, bundle_digest="b" * 64, hardware="NVIDIA A100", share=share).source == "run"
    assert len({trusted_key("b" * 64, 7, "NVIDIA H200"), trusted_key("b" * 64, 7, "NVIDIA A100"),
                trusted_key("b" * 64, 8, "NVIDIA H200"), trusted_key("c" * 64, 7, "NVIDIA H200")}) == 4


@pytest.mark.parametrize("damage", ["garbage", "truncated", "incomplete", "escaping", "raises"])
def test_a_bad_shared_archive_falls_back_to_the_reference(tmp_path, monkeypatch, damage):
    import io
    import tarfile

    _cache(monkeypatch, tmp_path / "cache")
    runner = ReferenceRunner(tmp_path)
    key = trusted_key("b" * 64, runner.setup.seed, "cpu")
    good = tmp_path / "good"
    (good / "arrays").mkdir(parents=True)
    (good / "records.jsonl").write_text(json.dumps({"nodeid": "t::x", "outcome": "passed", "checks": []}) + "\n")
    if damage != "incomplete":
        (good / "complete").write_text("ok")
    archive = pack(good)
    if damage == "garbage":
        archive = b"not a tar.gz"
    elif damage == "truncated":
        archive = archive[: len(archive) // 2]
    elif damage == "escaping":
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            info = tarfile.TarInfo("../outside")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
        archive = raw.getvalue()

    class Share(MemoryShare):
        def fetch(self, asked):
            if damage == "raises":
                raise ConnectionError("share unreachable")
            return archive if asked == key else None

    got = trusted_run(runner, bundle_digest="b" * 64, hardware="cpu", share=Share())
    assert (got.source, runner.runs) == ("run", 1)
    assert list(got.records.tests) == ["hidden/test_a.py::test_add"], "the reference's own records"
    assert not (tmp_path / "outside").exists()


def test_portal_share_checks_the_digest_and_answers_none_when_anything_is_wrong(tmp_path, portal):
    share = PortalTrustedRuns(PortalClient(portal.url, TOKEN, "gpu-host-1", timeout_s=5), tmp_path)
    key, archive = "a" * 64, b"an archive"
    assert share.fetch(key) is None  # nothing published yet
    share.publish(key, archive)
    digest = hashlib.sha256(archive).hexdigest()
    assert portal.trusted_runs == {key: digest}
    assert ("PUT", f"/api/worker/trusted-runs/{key}/{digest}", 200) in portal.requests
    assert share.fetch(key) == archive
    share.publish(key, b"a later archive")
    assert share.fetch(key) == archive, "the first one published is kept"
    portal.blobs[digest] = b"an archivE"  # tampered in the portal's store
    assert share.fetch(key) is None
    share.publish(key, b"a later archive")
    assert share.fetch(key) == b"a later archive", "an intact archive replaces a broken one"
    assert share.fetch("not-a-key") is None
    portal.stop()
    assert share.fetch(key) is None, "portal down: none, and the engine runs the reference"
    share.publish(key, archive)  # only logged
