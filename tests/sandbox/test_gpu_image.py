"""The CUDA grader image's recipe and build context, checked without building it.

`make gpu-image` downloads about 4 GB of CUDA wheels, so the build itself is not part of
`make test`; these tests pin what decides whether that build can succeed offline.
"""

import re

from autograder import images

GPU = images.SPECS["gpu"]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (GPU.folder / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt line {line!r} is not pinned with =="
            pins[name.lower()] = version
    return pins


def test_torch_and_triton_are_pinned_as_a_pair():
    pins = _pins()
    assert {"torch", "triton", "numpy", "pytest"} <= set(pins)
    assert "+cpu" not in pins["torch"], "the GPU image needs torch's CUDA build"
    # Triton 3.6 is what the GPU hosts run; torch 2.10 is the newest release built against it
    # whose CUDA wheels the package index serves (see requirements.txt).
    assert pins["triton"].startswith("3.6."), pins


def test_dockerfile_installs_only_from_the_wheelhouse():
    dockerfile = (GPU.folder / "Dockerfile").read_text()
    install = re.search(r"pip install ([^\n]*(?:\\\n[^\n]*)*)", dockerfile).group(1)
    assert "--no-index" in install and "--find-links /build/wheels" in install
    assert "COPY wheels /build/wheels" in dockerfile
    # The run time root is read-only: Triton's kernel cache must point into the tmpfs.
    assert "TRITON_CACHE_DIR=/tmp/" in dockerfile


def test_wheel_download_offers_every_manylinux_level_cuda_wheels_use():
    flags = images._platform_flags()
    platforms = {flags[i + 1] for i, flag in enumerate(flags) if flag == "--platform"}
    # cuDNN for CUDA wheels is published as manylinux_2_27 only; without it pip finds nothing.
    assert "manylinux_2_27_x86_64" in platforms and "manylinux_2_17_x86_64" in platforms
    assert all(p.endswith("_x86_64") for p in platforms)


def test_gpu_tags_are_content_hashed_apart_from_the_cpu_image():
    gpu_runtime = images.runtime_tag("gpu", images.DEBOOTSTRAP)
    assert gpu_runtime.startswith("dlgrade-runtime-gpu:")
    assert gpu_runtime != images.runtime_tag("cpu", images.DEBOOTSTRAP)
    assert images.python_version_for("gpu", images.DEBOOTSTRAP) == "3.11"
    assert images.image_tag("gpu", images.DEBOOTSTRAP).startswith("dlgrade-grader-gpu:")
