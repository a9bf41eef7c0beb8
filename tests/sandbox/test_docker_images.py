"""Grader image tags and the build's host-side helpers (no daemon needed)."""

import shutil

import pytest

from autograder import images


@pytest.fixture
def image_tree(tmp_path, monkeypatch):
    """A copy of grader_images/ and a small autograder/ package the tag functions read."""
    grader_images = tmp_path / "grader_images"
    shutil.copytree(images.IMAGES_DIR, grader_images)
    harness = tmp_path / "autograder" / "harness"
    harness.mkdir(parents=True)
    (harness.parent / "grading.py").write_text("# the engine: never in the image\n")
    (harness / "__init__.py").write_text("")
    (harness / "run.py").write_text("print('run')\n")
    (harness / "pytest.ini").write_text("[pytest]\n")
    (harness / "__pycache__").mkdir()
    (harness / "__pycache__" / "run.cpython-311.pyc").write_bytes(b"junk")
    monkeypatch.setattr(images, "IMAGES_DIR", grader_images)
    monkeypatch.setattr(images, "HARNESS_DIR", harness)
    monkeypatch.setattr(images.harness_files, "__defaults__", (harness,))
    monkeypatch.setattr(images.ImageSpec, "folder", property(lambda spec: grader_images / spec.kind))
    monkeypatch.delenv("DLGRADE_BASE_IMAGE", raising=False)
    monkeypatch.delenv("DLGRADE_BASE_IMAGE_CPU", raising=False)
    return tmp_path


def test_tags_name_their_content(image_tree):
    runtime, grader = images.runtime_tag("cpu"), images.image_tag("cpu")
    assert runtime.startswith("dlgrade-runtime-cpu:") and grader.startswith("dlgrade-grader-cpu:")
    assert (images.runtime_tag("cpu"), images.image_tag("cpu")) == (runtime, grader), "tags are stable"

    (image_tree / "autograder" / "harness" / "run.py").write_text("print('changed')\n")
    assert images.runtime_tag("cpu") == runtime, "a harness change keeps the runtime"
    assert images.image_tag("cpu") != grader, "a harness change makes a new grader image"

    changed = images.image_tag("cpu")
    (image_tree / "grader_images" / "cpu" / "requirements.txt").write_text("torch==2.13.0\n")
    assert images.runtime_tag("cpu") != runtime, "a new wheel list makes a new runtime"
    assert images.image_tag("cpu") != changed


def test_only_the_harness_goes_in_without_byte_code(image_tree):
    names = sorted(path.name for path in images.harness_files())
    assert names == ["__init__.py", "pytest.ini", "run.py"]
    changed = images.image_tag("cpu")
    (image_tree / "autograder" / "grading.py").write_text("# the engine changed\n")
    assert images.image_tag("cpu") == changed, "an engine change outside the harness keeps the image"


def test_the_real_harness_is_all_that_goes_in():
    files = images.harness_files()
    assert files and all(path.is_relative_to(images.REPO_ROOT / "autograder" / "harness") for path in files)


def test_base_image_choice_changes_the_tag(image_tree, monkeypatch):
    local = images.runtime_tag("cpu")
    monkeypatch.setenv("DLGRADE_BASE_IMAGE", "debian:bookworm-slim")
    assert images.base_image_setting("cpu") == "debian:bookworm-slim"
    assert images.runtime_tag("cpu") != local
    monkeypatch.setenv("DLGRADE_BASE_IMAGE_CPU", "debootstrap")
    assert images.runtime_tag("cpu") == local, "the per-kind setting wins"


def test_gpu_python_follows_its_base():
    assert images.python_version_for("gpu", images.DEBOOTSTRAP) == "3.11"  # bookworm
    assert images.python_version_for("gpu", "nvidia/cuda:13.0.0-runtime-ubuntu24.04") == "3.12"
    assert images.debootstrap_tag("gpu") != images.debootstrap_tag("cpu"), "gpu base adds gcc and headers"


def test_debian_mirror_from_deb822_and_one_line_sources(tmp_path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "Types: deb\n# a comment: with a colon\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert images.debian_mirror([deb822]) == "http://mirror.example/debian"
    one_line = tmp_path / "sources.list"
    one_line.write_text("# deb http://old bookworm main\n"
                        "deb [signed-by=/usr/share/keyrings/k.gpg] http://other.example/debian bookworm main\n")
    assert images.debian_mirror([one_line]) == "http://other.example/debian"
    assert images.debian_mirror([tmp_path / "missing"]) == images.FALLBACK_MIRROR
