"""The device files a bubblewrap sandbox needs for exactly its GPUs.

bubblewrap's `--dev /dev` holds no NVIDIA device, so a GPU run binds the driver's control
files and the files of its own GPUs only, as the NVIDIA container toolkit does for a container
started with `--gpus device=N`. CUDA inside then sees those GPUs alone, numbered from 0.

GPU indices (nvidia-smi's, the worker's) follow PCI bus order; device files are named by the
driver's minor number, which `/proc/driver/nvidia/gpus/<bus>/information` gives per bus.
Where that folder is missing the minor number is taken to be the index.
"""

from __future__ import annotations

import re
from pathlib import Path

DEV = Path("/dev")
PROC_GPUS = Path("/proc/driver/nvidia/gpus")
CONTROL_FILES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
_MINOR = re.compile(r"^Device Minor:\s*(\d+)", re.MULTILINE)


class GpuDeviceMissing(RuntimeError):
    pass


def minor_numbers() -> dict[int, int]:
    """GPU index (PCI bus order) -> device minor number, from the driver's /proc files."""
    minors = []
    if PROC_GPUS.is_dir():
        for bus in sorted(PROC_GPUS.iterdir(), key=lambda path: path.name.lower()):
            try:
                found = _MINOR.search((bus / "information").read_text())
            except OSError:
                continue
            if found:
                minors.append(int(found.group(1)))
    return dict(enumerate(minors))


def device_files(gpus: tuple[int, ...]) -> list[Path]:
    """The control files that exist and one `nvidia<minor>` per GPU of `gpus`; raises when a
    GPU's file is missing (a run without its GPU would fail in a confusing way)."""
    minors = minor_numbers()
    files = [DEV / name for name in CONTROL_FILES if (DEV / name).exists()]
    for gpu in gpus:
        path = DEV / f"nvidia{minors.get(gpu, gpu)}"
        if not path.exists():
            raise GpuDeviceMissing(f"GPU {gpu}: {path} does not exist on this host")
        files.append(path)
    return files


def visible_inside(gpus: tuple[int, ...]) -> str:
    """CUDA_VISIBLE_DEVICES inside the sandbox: its GPUs, renumbered from 0."""
    return ",".join(str(number) for number in range(len(gpus)))
