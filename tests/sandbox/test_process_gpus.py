"""The process sandbox hands a run exactly its GPUs, checked without a GPU: the environment
without bubblewrap, and with bubblewrap the device files bound into the run (a fake /dev and
a fake driver folder whose minor numbers are not the indices)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from autograder.sandbox import gpu_devices
from autograder.sandbox.base import Limits, SandboxJob
from autograder.sandbox.process import ProcessSandbox, bubblewrap_path

# prints CUDA_VISIBLE_DEVICES, the NVIDIA files in /dev, and which of its arguments exist
SHOW = ("import os, sys; print(os.environ.get('CUDA_VISIBLE_DEVICES'));"
        "print(sorted(n for n in os.listdir('/dev') if n.startswith('nvidia')));"
        "print([os.path.basename(p) for p in sys.argv[1:] if os.path.exists(p)])")


def _job(tmp_path: Path, gpus: tuple[int, ...], probe: tuple[Path, ...] = ()) -> SandboxJob:
    return SandboxJob(argv=[sys.executable, "-c", SHOW, *map(str, probe)], mounts=[], output_dir=tmp_path / f"out-{len(gpus)}",
                      output_target="/grader/out", limits=Limits(wall_s=60, memory_mb=1024, cpus=1, pids=64),
                      gpus=gpus)


@pytest.fixture
def fake_driver(tmp_path, monkeypatch):
    """Four GPUs whose minor numbers run backwards in PCI order (index 2 is /dev/nvidia1)."""
    dev, proc = tmp_path / "dev", tmp_path / "proc-gpus"
    dev.mkdir()
    for name in ("nvidiactl", "nvidia-uvm", "nvidia0", "nvidia1", "nvidia2", "nvidia3"):
        (dev / name).write_text(name)
    for index, bus in enumerate(("0000:19:00.0", "0000:3b:00.0", "0000:4c:00.0", "0000:5d:00.0")):
        (proc / bus).mkdir(parents=True)
        (proc / bus / "information").write_text(f"Model: \t NVIDIA H200\nDevice Minor: \t {3 - index}\n")
    monkeypatch.setattr(gpu_devices, "DEV", dev)
    monkeypatch.setattr(gpu_devices, "PROC_GPUS", proc)
    return dev


def test_without_bubblewrap_the_run_sees_only_its_gpu_indices(tmp_path):
    sandbox = ProcessSandbox(use_bubblewrap=False)
    outcome = sandbox.run(_job(tmp_path, (3,)))
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout.splitlines()[0] == "3"
    outcome = sandbox.run(_job(tmp_path, ()))
    assert outcome.stdout.splitlines()[0] == "", "a CPU run sees no GPU"


def test_device_files_follow_the_drivers_minor_numbers(fake_driver):
    assert gpu_devices.minor_numbers() == {0: 3, 1: 2, 2: 1, 3: 0}
    assert [p.name for p in gpu_devices.device_files((2,))] == ["nvidiactl", "nvidia-uvm", "nvidia1"]
    assert [p.name for p in gpu_devices.device_files((0, 3))] == ["nvidiactl", "nvidia-uvm", "nvidia3", "nvidia0"]
    assert gpu_devices.visible_inside((0, 3)) == "0,1"
    (fake_driver / "nvidia1").unlink()
    with pytest.raises(gpu_devices.GpuDeviceMissing, match="GPU 2"):
        gpu_devices.device_files((2,))


@pytest.mark.skipif(bubblewrap_path() is None, reason="needs bubblewrap")
def test_with_bubblewrap_the_run_gets_only_its_gpus_device_files(tmp_path, fake_driver):
    sandbox = ProcessSandbox(use_bubblewrap=True)
    argv, _env = sandbox._command(_job(tmp_path, (2,)), tmp_path)
    binds = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--dev-bind"]
    assert [Path(b).name for b in binds] == ["nvidiactl", "nvidia-uvm", "nvidia1"]
    # a real bwrap run: of the fake device files, only the job's are there inside
    probe = tuple(sorted(fake_driver.iterdir()))
    outcome = sandbox.run(_job(tmp_path, (2,), probe))
    assert outcome.exit_code == 0, outcome.stderr
    visible, listed, present = outcome.stdout.splitlines()[:3]
    assert visible == "0", "renumbered from 0 inside, as in a container"
    assert listed == "[]", "no host GPU file in the sandbox's /dev"
    assert present == str(["nvidia-uvm", "nvidia1", "nvidiactl"])
    cpu = sandbox.run(_job(tmp_path, (), probe))
    assert cpu.stdout.splitlines()[:3] == ["", "[]", "[]"], "a CPU run gets no GPU file at all"
