"""The `docker run` command line of the Docker backend, checked without a daemon or a GPU."""

from pathlib import Path

import pytest

from autograder.sandbox.base import Limits, Mount, SandboxJob
from autograder.sandbox.docker import _as_process_status, run_argv


def make_job(tmp_path: Path, **overrides) -> SandboxJob:
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "submission").mkdir(exist_ok=True)
    fields = dict(
        argv=["python", "-m", "autograder.harness.run", "--tests", "/sandbox/tests"],
        mounts=[Mount(tmp_path / "tests", "/sandbox/tests"),
                Mount(tmp_path / "submission", "/sandbox/submission")],
        output_dir=tmp_path / "out",
        output_target="/sandbox/out",
        limits=Limits(wall_s=30, memory_mb=2048, cpus=1.5, pids=128, scratch_mb=256),
        env={"DLGRADE_SEED": "7"},
    )
    fields.update(overrides)
    return SandboxJob(**fields)


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[index + 1] for index, word in enumerate(argv[:-1]) if word == flag]


def test_cpu_job_is_locked_down(tmp_path):
    argv = run_argv(make_job(tmp_path), image="dlgrade-grader-cpu:abc", name="dlgrade-1")
    assert argv[:3] == ["docker", "run", "--detach"]
    assert flag_values(argv, "--network") == ["none"]
    assert "--read-only" in argv
    assert flag_values(argv, "--memory") == ["2048m"]
    assert flag_values(argv, "--memory-swap") == ["2048m"], "swap must equal memory: no swap"
    assert flag_values(argv, "--pids-limit") == ["128"]
    assert flag_values(argv, "--cpus") == ["1.5"]
    assert flag_values(argv, "--user") == ["65534:65534"]
    assert flag_values(argv, "--cap-drop") == ["ALL"]
    assert flag_values(argv, "--security-opt") == ["no-new-privileges"]
    assert "--gpus" not in argv, "a CPU job must see no GPU"
    tmpfs = flag_values(argv, "--tmpfs")
    assert "/scratch:rw,nosuid,nodev,size=256m,mode=1777" in tmpfs
    assert any(entry.startswith("/tmp:") and "size=256m" in entry for entry in tmpfs)


def test_logs_are_capped_in_the_daemon(tmp_path):
    argv = run_argv(make_job(tmp_path), image="img", name="n")
    assert flag_values(argv, "--log-driver") == ["json-file"]
    options = flag_values(argv, "--log-opt")
    assert "max-file=1" in options
    (max_size,) = [option for option in options if option.startswith("max-size=")]
    assert int(max_size.split("=")[1]) <= 4 * (1 << 20)


def test_mounts_are_read_only_except_writable_and_output(tmp_path):
    job = make_job(tmp_path, mounts=[Mount(tmp_path / "tests", "/sandbox/tests"),
                                     Mount(tmp_path / "submission", "/sandbox/work", writable=True)])
    mounts = flag_values(run_argv(job, image="img", name="n"), "--mount")
    assert mounts == [
        f"type=bind,source={(tmp_path / 'tests').resolve()},target=/sandbox/tests,readonly",
        f"type=bind,source={(tmp_path / 'submission').resolve()},target=/sandbox/work",
        f"type=bind,source={(tmp_path / 'out').resolve()},target=/sandbox/out",
    ]


def test_only_the_jobs_mounts_appear(tmp_path):
    argv = run_argv(make_job(tmp_path, mounts=[]), image="img", name="n")
    assert len(flag_values(argv, "--mount")) == 1  # the output folder alone
    assert "--volume" not in argv and "-v" not in argv and "--privileged" not in argv


def test_gpu_job_gets_only_its_devices(tmp_path):
    argv = run_argv(make_job(tmp_path, gpus=(2, 5)), image="dlgrade-grader-gpu:abc", name="n")
    assert flag_values(argv, "--gpus") == ['"device=2,5"']
    argv = run_argv(make_job(tmp_path, gpus=(0,)), image="img", name="n")
    assert flag_values(argv, "--gpus") == ['"device=0"']


def test_command_image_and_environment(tmp_path):
    argv = run_argv(make_job(tmp_path), image="dlgrade-grader-cpu:abc", name="dlgrade-1", docker="/usr/bin/docker")
    assert argv[0] == "/usr/bin/docker"
    assert flag_values(argv, "--name") == ["dlgrade-1"]
    assert flag_values(argv, "--entrypoint") == ["python"]
    image_at = argv.index("dlgrade-grader-cpu:abc")
    assert argv[image_at + 1:] == ["-m", "autograder.harness.run", "--tests", "/sandbox/tests"]
    environment = flag_values(argv, "--env")
    assert "DLGRADE_SEED=7" in environment
    assert "OMP_NUM_THREADS=2" in environment  # ceil(1.5): threads follow the CPU quota
    assert flag_values(argv, "--workdir") == ["/scratch"]


def test_a_comma_in_a_mount_path_is_refused(tmp_path):
    odd = tmp_path / "a,b"
    odd.mkdir()
    with pytest.raises(ValueError, match="comma"):
        run_argv(make_job(tmp_path, mounts=[Mount(odd, "/sandbox/tests")]), image="img", name="n")


def test_signal_deaths_read_as_negative_status_like_subprocess():
    notes = []
    assert _as_process_status(137, notes) == -9 and "signal 9" in notes[0]
    assert _as_process_status(139, []) == -11
    assert _as_process_status(1, []) == 1
    assert _as_process_status(None, []) is None
