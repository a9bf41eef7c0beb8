"""The Docker SDK arguments of the Docker backend (`containers.create`), checked without a
daemon or a GPU."""

from pathlib import Path

from autograder.sandbox.base import Limits, Mount, SandboxJob
from autograder.sandbox.docker import CONTAINER_LABEL, _as_process_status, container_options


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


def ulimits(options: dict) -> dict[str, tuple[int, int]]:
    return {limit["Name"]: (limit["Soft"], limit["Hard"]) for limit in options["ulimits"]}


def test_cpu_job_is_locked_down(tmp_path):
    options = container_options(make_job(tmp_path), image="dlgrade-grader-cpu:abc", name="dlgrade-1")
    assert options["network_mode"] == "none"
    assert options["ipc_mode"] == "private"
    assert options["read_only"] is True
    assert options["mem_limit"] == "2048m"
    assert options["memswap_limit"] == "2048m", "swap must equal memory: no swap"
    assert options["pids_limit"] == 128
    assert options["nano_cpus"] == 1_500_000_000
    assert options["user"] == "65534:65534"
    assert options["cap_drop"] == ["ALL"]
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["init"] is True and options["oom_score_adj"] == 1000
    assert options["labels"] == {CONTAINER_LABEL: "1"}
    assert "device_requests" not in options, "a CPU job must see no GPU"
    assert "privileged" not in options and "volumes" not in options
    assert options["tmpfs"]["/scratch"] == "rw,nosuid,nodev,size=256m,mode=1777"
    assert "size=256m" in options["tmpfs"]["/tmp"] and options["shm_size"] == "256m"
    assert ulimits(options) == {"nofile": (1024, 1024), "fsize": (256 << 20, 256 << 20), "core": (0, 0)}


def test_logs_are_capped_in_the_daemon(tmp_path):
    log_config = container_options(make_job(tmp_path), image="img", name="n")["log_config"]
    assert log_config["Type"] == "json-file"
    assert log_config["Config"]["max-file"] == "1"
    assert int(log_config["Config"]["max-size"]) <= 4 * (1 << 20)


def test_mounts_are_read_only_except_writable_and_output(tmp_path):
    job = make_job(tmp_path, mounts=[Mount(tmp_path / "tests", "/sandbox/tests"),
                                     Mount(tmp_path / "submission", "/sandbox/work", writable=True)])
    mounts = container_options(job, image="img", name="n")["mounts"]
    assert [(m["Type"], m["Source"], m["Target"], m["ReadOnly"]) for m in mounts] == [
        ("bind", str((tmp_path / "tests").resolve()), "/sandbox/tests", True),
        ("bind", str((tmp_path / "submission").resolve()), "/sandbox/work", False),
        ("bind", str((tmp_path / "out").resolve()), "/sandbox/out", False),
    ]


def test_only_the_jobs_mounts_appear(tmp_path):
    options = container_options(make_job(tmp_path, mounts=[]), image="img", name="n")
    assert [m["Target"] for m in options["mounts"]] == ["/sandbox/out"]  # the output folder alone


def test_gpu_job_gets_only_its_devices(tmp_path):
    (request,) = container_options(make_job(tmp_path, gpus=(2, 5)), image="gpu-img", name="n")["device_requests"]
    assert request["DeviceIDs"] == ["2", "5"] and request["Capabilities"] == [["gpu"]]
    assert not request.get("Count"), "device ids, not a count: only the leased GPUs"
    (request,) = container_options(make_job(tmp_path, gpus=(0,)), image="img", name="n")["device_requests"]
    assert request["DeviceIDs"] == ["0"]


def test_command_image_and_environment(tmp_path):
    options = container_options(make_job(tmp_path), image="dlgrade-grader-cpu:abc", name="dlgrade-1")
    assert (options["image"], options["name"]) == ("dlgrade-grader-cpu:abc", "dlgrade-1")
    assert options["entrypoint"] == ["python"]
    assert options["command"] == ["-m", "autograder.harness.run", "--tests", "/sandbox/tests"]
    assert options["environment"]["DLGRADE_SEED"] == "7"
    assert options["environment"]["OMP_NUM_THREADS"] == "2"  # ceil(1.5): threads follow the CPU quota
    assert options["working_dir"] == "/scratch"


def test_a_comma_in_a_mount_path_reaches_the_daemon_intact(tmp_path):
    """The SDK sends mounts as JSON fields: a comma cannot change their meaning (the CLI's
    comma-separated --mount could, so that backend refused such paths)."""
    odd = tmp_path / "a,b"
    odd.mkdir()
    (mount, _output) = container_options(make_job(tmp_path, mounts=[Mount(odd, "/sandbox/tests")]),
                                         image="img", name="n")["mounts"]
    assert (mount["Source"], mount["Target"], mount["ReadOnly"]) == (str(odd.resolve()), "/sandbox/tests", True)


def test_signal_deaths_read_as_negative_status_like_subprocess():
    notes = []
    assert _as_process_status(137, notes) == -9 and "signal 9" in notes[0]
    assert _as_process_status(139, []) == -11
    assert _as_process_status(1, []) == 1
    assert _as_process_status(None, []) is None
