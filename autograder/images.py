"""Grader images: content-hashed tags, an offline-capable build, and the Debian base.

The images live in `grader_images/<kind>/` (a Dockerfile and a pinned `requirements.txt`).
A build needs neither Docker Hub nor TLS from inside a build container:

1. the base image is `BASE_IMAGE`: a public one (`debian:bookworm-slim`, `nvidia/cuda:...`)
   or, by default here, a Debian bookworm made on the host with `debootstrap` from the mirror
   in /etc/apt/sources.list* and loaded with `docker import`;
2. the Python packages are downloaded on the host (`pip download`, which uses the host's pip
   configuration: index, find-links, certificates) into a wheelhouse;
3. `docker build --network none` installs them from the wheelhouse, offline.

Two images per kind, each tagged with a hash of what went into it, so a build whose tag
exists is skipped:
- the runtime `dlgrade-runtime-<kind>:<hash>` (Dockerfile, requirements, base reference):
  Python and the wheels; minutes to build, rarely changes;
- the grader `dlgrade-grader-<kind>:<hash>` (the runtime's tag, `harness.Dockerfile`, every
  file of `autograder/harness/`): the runtime plus the harness; seconds to build.
`python -m autograder.images --help` is the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HARNESS_DIR = REPO_ROOT / "autograder" / "harness"  # all of the engine that runs inside the sandbox
IMAGES_DIR = REPO_ROOT / "grader_images"
BUILD_DIR = REPO_ROOT / "build" / "images"
# The debootstrap root file systems are cached outside the repository: they need root to
# create and delete (device nodes, root-owned files) and are shared by every checkout.
BASE_CACHE_DIR = Path(os.environ.get("DLGRADE_BASE_CACHE", "/var/cache/dlgrade"))

DEBOOTSTRAP = "debootstrap"  # BASE_IMAGE value meaning "build a Debian base locally"
DEBIAN_SUITE = "bookworm"  # its python3 is 3.11
DEBIAN_PACKAGES = {
    "cpu": ("python3", "python3-venv", "ca-certificates"),
    # triton builds its kernel launcher with a C compiler against Python's headers at run time
    "gpu": ("python3", "python3-venv", "ca-certificates", "python3-dev", "gcc", "libc6-dev"),
}
FALLBACK_MIRROR = "http://deb.debian.org/debian"


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    kind: str  # "cpu" or "gpu": the folder under grader_images/
    public_base: str  # BASE_IMAGE where Docker Hub is reachable (the Dockerfile's default)
    python_version: str  # of the base image's python3; the wheelhouse is downloaded for it

    @property
    def folder(self) -> Path:
        return IMAGES_DIR / self.kind

    @property
    def repository(self) -> str:
        return f"dlgrade-grader-{self.kind}"

    @property
    def runtime_repository(self) -> str:
        return f"dlgrade-runtime-{self.kind}"


SPECS = {
    "cpu": ImageSpec("cpu", public_base="debian:bookworm-slim", python_version="3.11"),
    # torch's CUDA wheels bring their own CUDA libraries (nvidia-* wheels); the base gives the
    # runtime layout the NVIDIA container toolkit expects. Ubuntu 24.04's python3 is 3.12.
    "gpu": ImageSpec("gpu", public_base="nvidia/cuda:13.0.0-runtime-ubuntu24.04", python_version="3.12"),
}


def base_image_setting(kind: str) -> str:
    """The BASE_IMAGE a build of `kind` uses: `DLGRADE_BASE_IMAGE_<KIND>`, then
    `DLGRADE_BASE_IMAGE`, then `debootstrap` (works without Docker Hub). Set it to the spec's
    public base (e.g. `DLGRADE_BASE_IMAGE=debian:bookworm-slim`) where Hub is reachable."""
    return (os.environ.get(f"DLGRADE_BASE_IMAGE_{kind.upper()}")
            or os.environ.get("DLGRADE_BASE_IMAGE") or DEBOOTSTRAP)


def python_version_for(kind: str, base_image: str) -> str:
    # A debootstrap base is Debian bookworm whatever the kind: python 3.11.
    return "3.11" if base_image == DEBOOTSTRAP else SPECS[kind].python_version


# ---------------------------------------------------------------------------------------------
# Tags


def harness_files(root: Path = HARNESS_DIR) -> list[Path]:
    """Every file of the in-sandbox harness (`autograder/harness/`) that goes into the image, sorted."""
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_dir() or "__pycache__" in relative.parts or path.suffix in (".pyc", ".pyo"):
            continue
        files.append(path)
    return files


def debian_mirror(candidates: list[Path] | None = None) -> str:
    """The Debian mirror configured for apt on this host (deb822 `.sources` or one-line)."""
    if candidates is None:
        candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in text.split("\n\n"):
                fields = dict(line.split(":", 1) for line in stanza.splitlines()
                              if ":" in line and not line.startswith("#"))
                suites = fields.get("Suites", "").split()
                if DEBIAN_SUITE in suites and "deb" in fields.get("Types", "").split():
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                words = line.split()
                # deb [options] URI suite components...
                words = [w for w in words if not w.startswith("[") and not w.endswith("]")]
                if len(words) >= 3 and words[0] == "deb" and words[2] == DEBIAN_SUITE:
                    return words[1]
    return FALLBACK_MIRROR


def debootstrap_tag(kind: str = "cpu") -> str:
    recipe = "\n".join([DEBIAN_SUITE, "minbase", *DEBIAN_PACKAGES[kind]])
    return f"dlgrade-base:{DEBIAN_SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def resolved_base(base_image: str, kind: str = "cpu") -> str:
    """The image reference a BASE_IMAGE setting stands for."""
    return debootstrap_tag(kind) if base_image == DEBOOTSTRAP else base_image


def _hasher():
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    return digest, add


def runtime_tag(kind: str = "cpu", base_image: str | None = None) -> str:
    """The tag of the runtime image (base, Python, wheels) of `kind`."""
    spec = SPECS[kind]
    base_image = base_image or base_image_setting(kind)
    digest, add = _hasher()
    add("base", resolved_base(base_image, kind).encode())
    add("python", python_version_for(kind, base_image).encode())
    add("Dockerfile", (spec.folder / "Dockerfile").read_bytes())
    add("requirements", (spec.folder / "requirements.txt").read_bytes())
    return f"{spec.runtime_repository}:{digest.hexdigest()[:16]}"


def image_tag(kind: str = "cpu", base_image: str | None = None) -> str:
    """The tag of the `kind` grader image built from this tree, e.g. `dlgrade-grader-cpu:3f2a...`."""
    digest, add = _hasher()
    add("runtime", runtime_tag(kind, base_image).encode())
    add("harness.Dockerfile", (IMAGES_DIR / "harness.Dockerfile").read_bytes())
    for path in harness_files():
        add(f"autograder/harness/{path.relative_to(HARNESS_DIR).as_posix()}", path.read_bytes())
    return f"{SPECS[kind].repository}:{digest.hexdigest()[:16]}"


# ---------------------------------------------------------------------------------------------
# Building


def _log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    _log("$ " + " ".join(argv))
    return subprocess.run(argv, check=True, **kwargs)


def image_exists(reference: str, docker: str = "docker") -> bool:
    return subprocess.run([docker, "image", "inspect", reference], capture_output=True).returncode == 0


def image_digest(reference: str, docker: str = "docker") -> str:
    return subprocess.run([docker, "image", "inspect", "--format", "{{.Id}}", reference],
                          capture_output=True, text=True, check=True).stdout.strip()


def build_debootstrap_base(kind: str = "cpu", docker: str = "docker") -> str:
    """Debian bookworm (minbase + python3) from the host's apt mirror, imported into Docker."""
    tag = debootstrap_tag(kind)
    if image_exists(tag, docker):
        return tag
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is missing: `apt-get install -y debootstrap`, or set "
                         "DLGRADE_BASE_IMAGE=debian:bookworm-slim where Docker Hub is reachable")
    BASE_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    rootfs = BASE_CACHE_DIR / tag.replace(":", "-")
    if not (rootfs / ".complete").exists():
        shutil.rmtree(rootfs, ignore_errors=True)
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES[kind])}",
              DEBIAN_SUITE, str(rootfs), debian_mirror()], stdout=subprocess.DEVNULL)
        # Package caches and lists are dead weight in a base that never runs apt.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        (rootfs / ".complete").touch()
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--exclude=./.complete", "-c", "."],
                           stdout=subprocess.PIPE)
    _run([docker, "import", "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["/bin/bash"]',
          "-", tag], stdin=tar.stdout, stdout=subprocess.DEVNULL)
    tar.stdout.close()
    if tar.wait() != 0:
        raise SystemExit(f"tar of {rootfs} failed")
    return tag


# pip matches a manylinux tag exactly, and CUDA wheels use several (cuDNN for CUDA 13 is
# manylinux_2_27 only): offer every glibc level Debian bookworm's 2.36 runs.
MANYLINUX_LEVELS = ("2_17", "2_24", "2_26", "2_27", "2_28", "2_31", "2_34", "2_35", "2_36")


def _platform_flags() -> list[str]:
    flags = ["--platform", "manylinux2014_x86_64"]
    for level in MANYLINUX_LEVELS:
        flags += ["--platform", f"manylinux_{level}_x86_64"]
    return flags


def fill_wheelhouse(kind: str, python_version: str) -> Path:
    """`pip download` the image's requirements (and dependencies) for its Python on the host.

    The host's pip configuration (index, certificates) applies, except that the GPU image
    ignores configured find-links: they may hold a CPU-only torch (`torch-...+cpu`), which
    pip would prefer to the CUDA build of the same version.
    """
    spec = SPECS[kind]
    wheelhouse = REPO_ROOT / "build" / "wheelhouse" / f"{kind}-py{python_version}"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
            "--python-version", python_version, "--implementation", "cp",
            *_platform_flags(),
            "--dest", str(wheelhouse), "--requirement", str(spec.folder / "requirements.txt")]
    environment = dict(os.environ)
    if kind == "gpu":
        for stale in wheelhouse.glob("torch-*+cpu-*.whl"):
            stale.unlink()
        environment.pop("PIP_FIND_LINKS", None)
        environment.update(_pip_config_without_find_links())
    _run(argv, env=environment)
    if kind == "gpu" and list(wheelhouse.glob("torch-*+cpu-*.whl")):
        raise SystemExit(f"the GPU wheelhouse {wheelhouse} got a CPU-only torch; check pip's find-links")
    return wheelhouse


def _pip_config_without_find_links() -> dict[str, str]:
    """Environment for pip: the host's configuration minus find-links."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    environment = {"PIP_CONFIG_FILE": os.devnull}
    for line in listed.stdout.splitlines():
        key, _, value = line.partition("=")
        option = key.rsplit(".", 1)[-1]
        if option in ("find-links", "") or key.startswith(":env:"):
            continue
        environment[f"PIP_{option.upper().replace('-', '_')}"] = value.strip().strip("'")
    return environment


def _link_tree(source: Path, target: Path, files: list[Path]) -> None:
    for path in files:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
        except OSError:
            shutil.copy2(path, destination)


def _docker_build(docker: str, context: Path, tag: str, build_args: dict[str, str],
                  dockerfile: Path | None = None, offline: bool = True) -> None:
    # Offline unless the base is a public one that may still need its apt step.
    argv = [docker, "build", "--tag", tag, "--label", f"org.dlgrade.tag={tag}"]
    if offline:
        argv += ["--network", "none"]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    if dockerfile is not None:
        argv += ["--file", str(dockerfile)]
    _run(argv + [str(context)])


def build_runtime(kind: str = "cpu", *, base_image: str | None = None, docker: str = "docker",
                  force: bool = False) -> str:
    """Build the runtime image of `kind` (base, Python, wheels) unless its tag exists."""
    spec = SPECS[kind]
    base_image = base_image or base_image_setting(kind)
    tag = runtime_tag(kind, base_image)
    if not force and image_exists(tag, docker):
        return tag
    base_reference = build_debootstrap_base(kind, docker) if base_image == DEBOOTSTRAP else base_image
    wheelhouse = fill_wheelhouse(kind, python_version_for(kind, base_image))
    context = BUILD_DIR / f"runtime-{kind}"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    for name in ("Dockerfile", "requirements.txt"):
        shutil.copy2(spec.folder / name, context / name)
    _link_tree(wheelhouse, context / "wheels", sorted(wheelhouse.glob("*.whl")))
    try:
        _docker_build(docker, context, tag, {"BASE_IMAGE": base_reference},
                      offline=base_image == DEBOOTSTRAP)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return tag


def build_image(kind: str = "cpu", *, base_image: str | None = None, docker: str = "docker",
                force: bool = False) -> str:
    """Build the `kind` grader image (the runtime, then the harness on it) unless its tag
    exists; return the tag. Safe to call from several processes at once."""
    import fcntl

    tag = image_tag(kind, base_image)
    if not force and image_exists(tag, docker):
        return tag
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / f".{kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build of a kind at a time on this checkout
        if not force and image_exists(tag, docker):
            return tag
        runtime = build_runtime(kind, base_image=base_image, docker=docker, force=force)
        context = BUILD_DIR / f"harness-{kind}"
        shutil.rmtree(context, ignore_errors=True)
        _link_tree(HARNESS_DIR, context / "autograder" / "harness", harness_files())
        try:
            _docker_build(docker, context, tag, {"RUNTIME_IMAGE": runtime},
                          dockerfile=IMAGES_DIR / "harness.Dockerfile")
        finally:
            shutil.rmtree(context, ignore_errors=True)
        # `:latest` is a convenience for people; the code always runs the hashed tag.
        _run([docker, "tag", tag, f"{SPECS[kind].repository}:latest"])
    return tag


def remove_old_images(kind: str = "cpu", docker: str = "docker") -> list[str]:
    """Untag grader images of `kind` other than this tree's (their layers are shared, so this
    frees little; it keeps `docker images` readable)."""
    keep = {image_tag(kind), f"{SPECS[kind].repository}:latest"}
    listed = subprocess.run([docker, "images", "--format", "{{.Repository}}:{{.Tag}}",
                             SPECS[kind].repository], capture_output=True, text=True, check=True)
    old = [tag for tag in listed.stdout.split() if tag not in keep]
    if old:
        subprocess.run([docker, "rmi", *old], capture_output=True)
    return old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.images",
                                     description="Build and name the grader images.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build an image unless its tag exists")
    build.add_argument("kind", choices=sorted(SPECS))
    build.add_argument("--base-image", help=f"BASE_IMAGE (default: $DLGRADE_BASE_IMAGE or {DEBOOTSTRAP})")
    build.add_argument("--force", action="store_true", help="build even where the tag exists")
    tag = commands.add_parser("tag", help="print the tag the current tree builds")
    tag.add_argument("kind", choices=sorted(SPECS))
    tag.add_argument("--base-image")
    prune = commands.add_parser("prune", help="untag grader images older than this tree's")
    prune.add_argument("kind", choices=sorted(SPECS))
    options = parser.parse_args(argv)
    if options.command == "tag":
        print(image_tag(options.kind, options.base_image))
        return 0
    if options.command == "prune":
        for old in remove_old_images(options.kind):
            print(f"untagged {old}")
        return 0
    started = time.monotonic()
    built = build_image(options.kind, base_image=options.base_image, force=options.force)
    _log(f"{built} ready in {time.monotonic() - started:.1f} s ({image_digest(built)})")
    print(built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
