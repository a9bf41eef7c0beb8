"""The Docker backend against the real engine and the CPU grader image (marker `docker`).

`infra/scripts/ensure_docker.sh` starts the daemon; the image is built here when the tree
changed since the last build (seconds when only the harness changed).
"""

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from autograder import images
from autograder.sandbox.base import Limits, Mount, SandboxJob
from autograder.sandbox.docker import DockerSandbox

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def grader_image() -> str:
    if shutil.which("docker") is None:
        pytest.skip("SKIPPED LOUDLY: no docker CLI on this machine; run infra/scripts/ensure_docker.sh")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("the Docker daemon is not answering: run infra/scripts/ensure_docker.sh")
    return images.build_image("cpu")


@pytest.fixture
def sandbox(grader_image) -> DockerSandbox:
    return DockerSandbox(image=grader_image)


def script_job(tmp_path: Path, source: str, **limits) -> SandboxJob:
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text(textwrap.dedent(source))
    settings = dict(wall_s=20, memory_mb=512, pids=64, scratch_mb=64, output_mb=8, stdout_bytes=4096)
    settings.update(limits)
    return SandboxJob(argv=["python", "/sandbox/code/main.py"], mounts=[Mount(code, "/sandbox/code")],
                      output_dir=tmp_path / "out", output_target="/sandbox/out", limits=Limits(**settings))


def test_a_clean_run_reports_exit_output_and_image(sandbox, grader_image, tmp_path):
    outcome = sandbox.run(script_job(tmp_path, """
        import json, os, sys
        print("hello"); print("oops", file=sys.stderr)
        json.dump({"uid": os.getuid(), "cwd": os.getcwd()}, open("/sandbox/out/facts.json", "w"))
        sys.exit(3)
    """))
    assert (outcome.exit_code, outcome.timed_out, outcome.out_of_memory) == (3, False, False)
    assert outcome.stdout.strip() == "hello" and outcome.stderr.strip() == "oops"
    assert json.loads((tmp_path / "out" / "facts.json").read_text()) == {"uid": 65534, "cwd": "/scratch"}
    assert outcome.image == images.image_digest(grader_image)
    assert outcome.image.startswith("sha256:")


def test_the_container_is_locked_down(sandbox, tmp_path):
    outcome = sandbox.run(script_job(tmp_path, """
        import json, os, socket
        facts = {}
        def attempt(name, action):
            try:
                action(); facts[name] = "allowed"
            except Exception as error:
                facts[name] = type(error).__name__
        attempt("write_root", lambda: open("/evil", "w"))
        attempt("write_code_mount", lambda: open("/sandbox/code/evil", "w"))
        attempt("write_opt", lambda: open("/opt/dlgrade/autograder/evil.py", "w"))
        attempt("socket", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
        attempt("scratch", lambda: open("/scratch/ok", "w").write("x"))
        attempt("tmp", lambda: open("/tmp/ok", "w").write("x"))
        facts["interfaces"] = sorted(os.listdir("/sys/class/net"))
        facts["caps"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
        json.dump(facts, open("/sandbox/out/facts.json", "w"))
    """))
    assert outcome.exit_code == 0, outcome.stderr
    facts = json.loads((tmp_path / "out" / "facts.json").read_text())
    for denied in ("write_root", "write_code_mount", "write_opt", "socket"):
        assert facts[denied] != "allowed", f"{denied} should be refused: {facts}"
    assert facts["scratch"] == facts["tmp"] == "allowed"
    assert facts["interfaces"] == ["lo"]
    assert int(facts["caps"], 16) == 0


def test_wall_time_kills_and_removes_the_container(sandbox, tmp_path):
    outcome = sandbox.run(script_job(tmp_path, "import time; time.sleep(600)", wall_s=3))
    assert outcome.timed_out and outcome.exit_code is None
    assert outcome.wall_s < 15
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=org.dlgrade.sandbox"],
                          capture_output=True, text=True).stdout.split()
    assert left == []


def test_memory_limit_is_reported_as_oom(sandbox, tmp_path):
    outcome = sandbox.run(script_job(tmp_path, """
        chunks = []
        while True:
            chunks.append(bytearray(64 << 20))
    """, memory_mb=256))
    assert outcome.out_of_memory and not outcome.timed_out, outcome


def test_stdout_flood_is_capped(sandbox, tmp_path):
    outcome = sandbox.run(script_job(tmp_path, """
        import os
        block = b"x" * (1 << 20)
        for _ in range(512):  # 512 MB
            os.write(1, block)
        print("done")
    """, wall_s=120, stdout_bytes=4096))
    assert not outcome.timed_out and outcome.exit_code == 0, outcome  # the flood ran to its end
    assert len(outcome.stdout) <= 4096
    assert outcome.stdout.rstrip().endswith("done"), outcome.stdout[-200:]


def test_output_folder_overflow_is_killed(sandbox, tmp_path):
    outcome = sandbox.run(script_job(tmp_path, """
        import os
        for index in range(100):
            with open(f"/sandbox/out/blob{index}", "wb") as handle:
                handle.write(b"x" * (4 << 20))
        import time; time.sleep(30)
    """, output_mb=8, scratch_mb=8))
    assert outcome.exit_code is None
    assert any("output folder" in note for note in outcome.notes)


def test_fork_bomb_hits_the_pids_limit(sandbox, tmp_path):
    outcome = sandbox.run(script_job(tmp_path, """
        import os, time
        children = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(60); os._exit(0)
                children += 1
        except OSError as error:
            print("refused after", children, type(error).__name__)
    """, pids=32, wall_s=15))
    assert "refused after" in outcome.stdout, outcome


def test_output_folder_full_of_empty_files_is_killed(sandbox, tmp_path):
    outcome = sandbox.run(script_job(tmp_path, """
        import os
        for index in range(1_000_000):
            open(f"/sandbox/out/{index}", "w").close()
    """, wall_s=60))
    assert outcome.exit_code is None and not outcome.timed_out
    assert any("output folder" in note for note in outcome.notes)
